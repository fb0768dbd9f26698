import Foundation
import TestSupport
import XCTest

/// Connection state recovery in Chromium (Protocol.md 5.5), the page's TCP connection cut by a
/// proxy between the browser and the server, as a lost network does (no close frame): the chat
/// example, and `parley.js` against `parley-server --recovery`.
final class RecoveryBrowserTests: XCTestCase {
    private static let notices = "[...document.querySelectorAll('#messages .notice')].map((n) => n.textContent)"

    func test_chat_pageWhoseConnectionIsCut_showsEveryMissedMessageOnceInOrder_withoutJoinOrLeave() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("chat-server", ["--port", "0"], for: self)
        let proxy = try CuttingProxy(target: server.port)
        addTeardownBlock { proxy.stop() }
        let unreachable = try UnreachablePort()
        let ada = try await ChatPage.open(browser.devTools, port: proxy.port)   // through the proxy
        let grace = try await ChatPage.open(browser.devTools, port: server.port)
        try await ada.login("ada")
        try await grace.login("grace")
        try await ada.page.waitFor("document.getElementById('online-count').textContent === '2'")
        try await grace.send("before the cut")
        try await ada.waitForMessage(from: "grace", "before the cut")
        var expected = ["before the cut"]

        for round in 1...2 {
            // The network goes: the connection is cut and reconnection attempts are refused.
            proxy.target.withLock { $0 = unreachable.port }
            XCTAssertGreaterThan(proxy.cut(), 0, "the page had no connection through the proxy")
            try await ada.page.waitFor("document.getElementById('status').dataset.state === 'reconnecting'",
                                       describe: "document.getElementById('status').textContent")
            // Others see ada as away (her session is kept), not as gone.
            try await grace.page.waitFor("[...document.querySelectorAll('#users li.away')].map((li) => li.textContent).join() === 'ada'",
                                         describe: "document.getElementById('users').innerHTML")
            for n in 1...5 {
                let text = "missed \(round).\(n)"
                try await grace.send(text)
                try await grace.waitForMessage(from: "grace", text)
                expected.append(text)
            }
            if round == 1 {
                try await screenshot(ada, "chat-connection-lost")
                try await screenshot(grace, "chat-other-away")
            }
            if round == 2 {
                // A message in another room while ada is away: an unread count once she is back.
                try await grace.switchRoom("random")
                try await grace.send("elsewhere")
                try await grace.waitForMessage(from: "grace", "elsewhere")
                try await grace.switchRoom("general")
            }
            // The network is back: the page recovers its session and is given what it missed.
            proxy.target.withLock { $0 = server.port }
            try await ada.waitUntilConnected(timeout: .seconds(20))
            try await ada.page.waitFor("\(Self.notices).filter((n) => n.startsWith('reconnected')).length === \(round)",
                                       describe: "\(Self.notices).join(' | ')")
            let recovered = try await ada.page.string("document.getElementById('status').dataset.recovered")
            XCTAssertEqual(recovered, "true", "round \(round): the page's socket did not recover its session")
            let shown = try await ada.messageTexts()
            XCTAssertEqual(shown, expected, "round \(round): a missed message is absent, repeated or out of order")
            try await grace.page.waitFor("document.querySelectorAll('#users li.away').length === 0",
                                         describe: "document.getElementById('users').innerHTML")
        }
        try await ada.page.waitFor("document.querySelector('#rooms button[data-room=\"random\"] .badge')?.textContent === '1'",
                                   describe: "document.getElementById('rooms').textContent")

        // Live again, both ways.
        try await ada.send("back, and nothing lost")
        try await grace.waitForMessage(from: "ada", "back, and nothing lost")
        try await grace.send("welcome back")
        try await ada.waitForMessage(from: "grace", "welcome back")
        expected += ["back, and nothing lost", "welcome back"]
        let shown = try await ada.messageTexts()
        XCTAssertEqual(shown, expected)

        // Nobody was announced as leaving or joining again.
        let adaNotices = try await ada.page.string("\(Self.notices).join(' | ')")
        XCTAssertEqual(adaNotices, "grace joined | reconnected: 5 messages came in while away | reconnected: 5 messages came in while away")
        let graceNotices = try await grace.page.string("\(Self.notices).join(' | ')")
        XCTAssertEqual(graceNotices, "", "grace was told that ada left or joined")
        try await screenshot(ada, "chat-recovered")
        try await screenshot(grace, "chat-recovered-other")

        // A page that really leaves is announced at once, recovery or not.
        _ = try await ada.page.call("Page.close")
        try await grace.page.waitFor("\(Self.notices).includes('ada left')", describe: "\(Self.notices).join(' | ')")
    }

    func test_chat_pageAwayLongerThanTheWindow_isAnnouncedAsGone_thenJoinsAfresh() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("chat-server", ["--port", "0", "--recovery-window", "2"], for: self)
        let proxy = try CuttingProxy(target: server.port)
        addTeardownBlock { proxy.stop() }
        let unreachable = try UnreachablePort()
        let ada = try await ChatPage.open(browser.devTools, port: proxy.port)
        let grace = try await ChatPage.open(browser.devTools, port: server.port)
        try await ada.login("ada")
        try await grace.login("grace")
        try await grace.page.waitFor("document.getElementById('online-count').textContent === '2'")

        proxy.target.withLock { $0 = unreachable.port }
        XCTAssertGreaterThan(proxy.cut(), 0)
        try await grace.page.waitFor("[...document.querySelectorAll('#users li.away')].map((li) => li.textContent).join() === 'ada'",
                                     describe: "document.getElementById('users').innerHTML")
        let awayNotices = try await grace.page.string("\(Self.notices).join(' | ')")
        XCTAssertEqual(awayNotices, "", "ada was announced as gone before her window ended")
        // The 2 s window ends: ada is gone for everyone.
        try await grace.page.waitFor("\(Self.notices).includes('ada left')", timeout: .seconds(10), describe: "\(Self.notices).join(' | ')")
        try await grace.page.waitFor("document.getElementById('online-count').textContent === '1' && document.querySelectorAll('#users li').length === 1",
                                     describe: "document.getElementById('users').innerHTML")

        // Her page comes back too late to recover: a fresh session, announced as a join.
        proxy.target.withLock { $0 = server.port }
        try await ada.waitUntilConnected(timeout: .seconds(20))
        let recovered = try await ada.page.string("document.getElementById('status').dataset.recovered")
        XCTAssertEqual(recovered, "false")
        try await grace.page.waitFor("\(Self.notices).join(' | ') === 'ada left | ada joined'", describe: "\(Self.notices).join(' | ')")
        try await grace.send("hello again")
        try await ada.waitForMessage(from: "grace", "hello again")
    }

    func test_parleyJS_connectionCutRepeatedly_receivesEveryBroadcastOnceInOrder() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--recovery"], for: self)
        let proxy = try CuttingProxy(target: server.port)
        addTeardownBlock { proxy.stop() }
        let page = try await browser.devTools.newPage()
        try await page.open("http://127.0.0.1:\(server.port)/parley/parley.js")
        // The receiver connects through the proxy; the sender, in the same page, directly. The
        // sender's `all` reaches every client, numbered 1...count, two every 10 ms.
        let count = 1000
        try await page.evaluate("""
            (async () => {
              const { connect } = await import("/parley/parley.js");
              const receiver = connect("ws://127.0.0.1:\(proxy.port)/parley");
              window.received = []; window.connects = []; window.ids = new Set();
              receiver.on("connect", () => { window.connects.push(receiver.recovered); window.ids.add(receiver.id); });
              receiver.on("all", (n) => window.received.push(n));
              window.receiver = receiver;
              await new Promise((resolve) => receiver.once("connect", resolve));
              const sender = connect("/parley");
              await new Promise((resolve) => sender.once("connect", resolve));
              let next = 1;
              const timer = setInterval(() => {
                for (let i = 0; i < 2 && next <= \(count); i++) sender.emit("all", next++);
                if (next > \(count)) clearInterval(timer);
              }, 10);
              return true;
            })()
            """)

        // Cut the receiver's connection again and again: once reconnected, after 0-100 ms
        // (sometimes during the replay of what it missed).
        var cuts = 0
        while cuts < 6 {
            let connects = cuts + 1
            try await page.waitFor("window.connects.length >= \(connects)", timeout: .seconds(20), describe: "window.connects.join()")
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...100)))
            if proxy.cut() > 0 { cuts += 1 }
        }
        try await page.waitFor("window.received.length >= \(count) && window.connects.length > \(cuts)", timeout: .seconds(30),
                               describe: "window.received.length + ' received, connects ' + window.connects.join()")
        let json = try await page.string("""
            JSON.stringify({ received: window.received, connects: window.connects, ids: window.ids.size })
            """)
        struct Outcome: Decodable { let received: [Int]; let connects: [Bool]; let ids: Int }
        let outcome = try JSONDecoder().decode(Outcome.self, from: Data(json.utf8))
        XCTAssertEqual(outcome.received.count, count, "a number was lost or repeated")
        XCTAssertEqual(outcome.received, Array(1...count), "numbers out of order, missing or repeated")
        XCTAssertEqual(outcome.connects.first, false, "the first connection is a new session")
        XCTAssertEqual(Array(outcome.connects.dropFirst()), Array(repeating: true, count: outcome.connects.count - 1),
                       "a reconnection did not recover its session")
        XCTAssertGreaterThan(outcome.connects.count, cuts)
        XCTAssertEqual(outcome.ids, 1, "the socket id changed across recoveries")
        XCTAssertGreaterThanOrEqual(proxy.accepted.load(ordering: .relaxed), cuts + 1)
    }

    /// Saves a screenshot when `CHAT_SCREENSHOTS` names a directory.
    private func screenshot(_ page: ChatPage, _ name: String) async throws {
        guard let directory = ProcessInfo.processInfo.environment["CHAT_SCREENSHOTS"], !directory.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await page.page.screenshot(to: "\(directory)/\(name).png")
    }
}
