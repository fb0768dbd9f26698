import Foundation
import XCTest

/// The README's quick start: the code shown is `Examples/QuickStart/main.swift` as compiled, and
/// the program (`parley-quickstart`, a child process) prints what the README says it prints.
final class QuickStartTests: XCTestCase {
    /// The repository's root: this file is Tests/EndToEndTests/QuickStart/QuickStartTests.swift.
    private static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func test_readme_quickStartBlock_isTheExampleFile() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let program = try String(contentsOf: Self.root.appendingPathComponent("Examples/QuickStart/main.swift"), encoding: .utf8)
        guard let section = readme.range(of: "## Quick start\n") else { return XCTFail("README.md has no \"Quick start\" section") }
        let rest = readme[section.upperBound...]
        guard let open = rest.range(of: "```swift\n") else { return XCTFail("the Quick start section has no Swift block") }
        guard let close = rest[open.upperBound...].range(of: "```\n") else { return XCTFail("the Swift block is not closed") }
        XCTAssertEqual(String(rest[open.upperBound..<close.lowerBound]), program,
                       "README.md's quick start differs from Examples/QuickStart/main.swift: copy the file into the README")
    }

    func test_quickStart_connects_sendsHello_andPrintsTheReply() async throws {
        let program = try await ChildProcess.start("parley-quickstart", [], announcesPort: false, for: self)
        let connected = try await program.line(containing: "client: connected as ")
        let id = String(connected.dropFirst("client: connected as ".count))
        XCTAssertEqual(id.count, 22, connected)
        try await program.line(containing: "server: \(id) says hello, as newcomer")
        try await program.line(containing: #"client: the server replied "Welcome, newcomer!""#)
        let deadline = ContinuousClock.now + .seconds(10)
        while program.process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertFalse(program.process.isRunning, "the program did not end after its reply")
        XCTAssertEqual(program.process.terminationStatus, 0)
    }
}
