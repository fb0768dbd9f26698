import ParleyIO
import Synchronization
import XCTest

final class ParleyLoggerTests: XCTestCase {
    /// Lines as ``ParleyLogger/standardError`` would write them.
    private final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    /// A logger whose lines land in `lines`.
    private func recording(level: ParleyLogger.Level) -> (ParleyLogger, Lines) {
        let lines = Lines()
        let logger = ParleyLogger(level: level) { level, message, metadata in
            lines.lines.withLock { $0.append(ParleyLogger.format(level, message, metadata)) }
        }
        return (logger, lines)
    }

    func test_format_appendsMetadataSortedByKey_andQuotesValuesWithSpaces() {
        let line = ParleyLogger.format(.info, "parley: connect", ["namespace": "/", "address": "127.0.0.1:5000", "why": "a b"])
        XCTAssertEqual(line, #"parley: connect address=127.0.0.1:5000 namespace=/ why="a b""#)
    }

    func test_format_namesTheLevel_forWarningAndGraverOnly() {
        XCTAssertEqual(ParleyLogger.format(.notice, "back", [:]), "back")
        XCTAssertEqual(ParleyLogger.format(.warning, "parley: Redis down", [:]), "warning: parley: Redis down")
        XCTAssertEqual(ParleyLogger.format(.critical, "x", ["q": #"say "hi""#]), #"critical: x q="say \"hi\"""#)
    }

    func test_logger_skipsLinesBelowItsLevel_withoutBuildingThem() {
        let (logger, lines) = recording(level: .info)
        let built = Mutex(0)
        func message(_ text: String) -> String {
            built.withLock { $0 += 1 }
            return text
        }
        logger.debug(message("hidden"))
        logger.info(message("shown"), metadata: ["k": "v"])
        logger.error(message("grave"))
        XCTAssertEqual(lines.all, ["shown k=v", "error: grave"])
        XCTAssertEqual(built.withLock { $0 }, 2, "the debug message was built though it was skipped")
        XCTAssertFalse(logger.isEnabled(.debug))
        XCTAssertTrue(logger.isEnabled(.warning))
    }

    func test_disabled_isEnabledForNothing() {
        XCTAssertFalse(ParleyLogger.disabled.isEnabled(.critical))
        XCTAssertTrue(ParleyLogger.standardError.isEnabled(.info))
        XCTAssertFalse(ParleyLogger.standardError.isEnabled(.debug))
    }

    func test_levels_areOrderedAndNamedAsSwiftLogs() {
        XCTAssertEqual(ParleyLogger.Level.allCases.map(\.rawValue), ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        XCTAssertEqual(ParleyLogger.Level.allCases, ParleyLogger.Level.allCases.sorted())
    }
}
