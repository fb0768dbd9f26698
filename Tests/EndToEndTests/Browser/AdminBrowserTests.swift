import Foundation
import ParleyClient
import Synchronization
import XCTest

/// The admin dashboard of `parley-server --admin-token` in Chromium: refused without the
/// token, live with it, its counters following the clients that connect and talk.
final class AdminBrowserTests: XCTestCase {
    private struct Ignored: Decodable, Sendable {
        init(from decoder: any Decoder) throws {}
    }

    /// A Swift client of the relay in `room`.
    private func member(port: Int, room: String) async throws -> Client {
        var options = Client.Options()
        options.autoConnect = false
        options.logger = .disabled
        let client = Client(url: "ws://127.0.0.1:\(port)/parley", options: options)
        let events = client.events
        client.connect()
        for await event in events {
            if case .connect = event { break }
            if case .connectError(let message, _) = event { throw ClientError.transport(.invalidURL(message)) }
        }
        _ = try await client.emitWithAck("join", room, as: Ignored.self)
        addTeardownBlock { client.disconnect() }
        return client
    }

    func test_adminPage_isRefusedWithoutToken_andFollowsClientsWithIt() async throws {
        let token = "e2e-admin-token"
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "2", "--admin-token", token], for: self)
        let browser = try await Chromium.launch(for: self)
        let page = try await browser.devTools.newPage(width: 1280, height: 900)

        // Without the token: 401, and nothing of the dashboard.
        try await page.open("http://127.0.0.1:\(server.port)/parley/admin")
        let refused = try await page.string("document.body.innerText")
        XCTAssertTrue(refused.hasPrefix("Unauthorized"), refused)
        try await page.open("http://127.0.0.1:\(server.port)/parley/admin?token=wrong")
        let wrong = try await page.string("document.body.innerText")
        XCTAssertTrue(wrong.hasPrefix("Unauthorized"), wrong)

        // With it: live, and the token leaves the address bar.
        let url = "http://127.0.0.1:\(server.port)/parley/admin"
        // Not `open`: the page replaces its own address (dropping the token), which `open`
        // would wait for in vain. The first checks may run in the page being left.
        _ = try await page.call("Page.navigate", ["url": url + "?token=\(token)"])
        var live = false
        for _ in 0..<3 where !live {
            live = (try? await page.waitFor("location.pathname === '/parley/admin' && window.admin !== undefined && window.admin.latest !== null")) != nil
        }
        XCTAssertTrue(live, "the dashboard never received a snapshot")
        let search = try await page.string("location.search")
        XCTAssertEqual(search, "")
        try await page.waitFor("document.getElementById('status-text').textContent === 'live'")
        let connections = try await page.string("document.getElementById('connections').textContent")
        XCTAssertEqual(connections, "1", "the dashboard's own socket")

        // 24 clients in three rooms: the counters move.
        var clients: [Client] = []
        for (room, count) in [("lobby", 12), ("swift", 8), ("random", 4)] {
            for _ in 0..<count { clients.append(try await member(port: server.port, room: room)) }
        }
        try await page.waitFor("document.getElementById('connections').textContent === '25'", timeout: .seconds(10),
                               describe: "document.getElementById('connections').textContent")
        try await page.waitFor("[...document.querySelectorAll('#rooms td:first-child')].map((td) => td.textContent).join() === 'lobby,swift,random'",
                               describe: "document.getElementById('rooms').innerText")

        // Load: every client broadcasts a few times a second for the rest of the test.
        let load = Task {
            for round in 0..<400 where !Task.isCancelled {
                for client in clients { _ = try? client.emit("broadcast", ["round": round]) }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        defer { load.cancel() }
        try await page.waitFor("window.admin.latest.point.messagesInPerSecond > 100 && window.admin.history.length >= 8",
                               timeout: .seconds(20), describe: "JSON.stringify(window.admin.latest.point)")
        let messagesOut = try await page.evaluate("window.admin.latest.point.messagesOutPerSecond") as? Double ?? 0
        XCTAssertGreaterThan(messagesOut, 1000, "each broadcast reaches 23 others")

        // The members of a room, with their addresses.
        try await page.evaluate("[...document.querySelectorAll('#rooms tr')].find((tr) => tr.firstChild.textContent === 'lobby').click()")
        try await page.waitFor("document.querySelectorAll('#members tr').length === 12", describe: "document.getElementById('members').innerText")
        let address = try await page.string("document.querySelector('#members tr td:nth-child(2)').textContent")
        XCTAssertTrue(address.hasPrefix("127.0.0.1:"), address)

        let directory = ProcessInfo.processInfo.environment["PARLEY_SCREENSHOT_DIR"] ?? FileManager.default.temporaryDirectory.path
        try await page.screenshot(to: directory + "/admin.png")
    }
}
