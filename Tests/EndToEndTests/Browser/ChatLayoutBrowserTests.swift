import Foundation
import ParleyClient
import XCTest

/// The chat example's layout once a room fills up, measured in headless Chromium at a desktop
/// and a phone size with element geometry: the message list scrolls, the header and the composer
/// stay on screen, the document itself never scrolls; a reader scrolled up stays put and gets a
/// "new messages" button; other rooms count unread messages; an empty room says so.
///
/// With `CHAT_SCREENSHOTS=/some/dir` set, the tests also save what they saw there as PNGs.
final class ChatLayoutBrowserTests: XCTestCase {
    private struct Draft: Encodable, Sendable {
        var room: String
        var text: String
    }

    private struct Ignored: Decodable, Sendable {
        init(from decoder: any Decoder) throws {}
    }

    /// Where a box is, in CSS pixels of the viewport.
    private struct Box: Decodable, CustomStringConvertible {
        var top: Double
        var bottom: Double
        var left: Double
        var right: Double

        var description: String { "top \(top) bottom \(bottom) left \(left) right \(right)" }
    }

    /// What the page measures of itself.
    private struct Geometry: Decodable {
        var innerWidth: Double
        var innerHeight: Double
        var documentScrollHeight: Double
        var documentClientHeight: Double
        var documentScrollWidth: Double
        var documentClientWidth: Double
        var scrollY: Double
        var header: Box
        var activeRoom: Box
        var composer: Box
        var send: Box
        var list: Box
        var newest: Box
        var newestText: String
        var listScrollTop: Double
        var listScrollHeight: Double
        var listClientHeight: Double
        var messageCount: Int
        var jump: String?
    }

    private static let measure = """
        (() => {
          const box = (element) => { const r = element.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, left: r.left, right: r.right }; };
          const list = document.getElementById('messages');
          const messages = list.querySelectorAll('.message');
          const newest = messages[messages.length - 1];
          const documentElement = document.scrollingElement;
          const jump = document.getElementById('jump');
          return JSON.stringify({
            innerWidth, innerHeight, scrollY,
            documentScrollHeight: documentElement.scrollHeight, documentClientHeight: documentElement.clientHeight,
            documentScrollWidth: documentElement.scrollWidth, documentClientWidth: documentElement.clientWidth,
            header: box(document.querySelector('.topbar')), activeRoom: box(document.querySelector('#rooms .room.active')),
            composer: box(document.getElementById('composer')), send: box(document.getElementById('send')),
            list: box(list), newest: box(newest), newestText: newest.querySelector('.text').textContent,
            listScrollTop: list.scrollTop, listScrollHeight: list.scrollHeight, listClientHeight: list.clientHeight,
            messageCount: messages.length, jump: jump.hidden ? null : jump.textContent,
          });
        })()
        """

    private func geometry(_ page: ChatPage) async throws -> Geometry {
        try JSONDecoder().decode(Geometry.self, from: Data(try await page.page.string(Self.measure).utf8))
    }

    /// A second person, on the Swift client, who writes the messages.
    private func writer(port: Int) -> Client {
        var options = Client.Options()
        options.query = ["token": "robot", "key": UUID().uuidString]
        let client = Client(url: "ws://127.0.0.1:\(port)/parley", options: options)
        addTeardownBlock { client.disconnect() }
        return client
    }

    private func post(_ client: Client, _ text: String, room: String = "general") async throws {
        _ = try await client.emitWithAck("message", Draft(room: room, text: text), timeout: .seconds(10), as: Ignored.self)
    }

    /// Message `n`: lengths vary from a word to a few lines, as in a real conversation.
    private static func text(_ n: Int) -> String {
        let words = "the quick brown fox jumps over the lazy dog while the chat keeps scrolling along".split(separator: " ")
        let count = [2, 9, 30, 5, 16][n % 5]
        return "message \(n): " + (0..<count).map { String(words[($0 + n) % words.count]) }.joined(separator: " ")
    }

    private func screenshot(_ page: ChatPage, _ name: String) async throws {
        guard let directory = ProcessInfo.processInfo.environment["CHAT_SCREENSHOTS"], !directory.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await page.page.screenshot(to: "\(directory)/\(name).png")
    }

    /// The document does not scroll, and the header, the active room, the composer and the
    /// newest message are all inside the viewport, the newest one inside the list's box.
    private func assertLaidOut(_ g: Geometry, _ size: Viewport, newest text: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        let where_ = "at \(size)"
        XCTAssertEqual(g.innerHeight, Double(size.height), where_, file: file, line: line)
        XCTAssertLessThanOrEqual(g.documentScrollHeight, g.documentClientHeight, "the document scrolls \(where_)", file: file, line: line)
        XCTAssertLessThanOrEqual(g.documentScrollWidth, g.documentClientWidth, "the document scrolls sideways \(where_)", file: file, line: line)
        XCTAssertEqual(g.scrollY, 0, where_, file: file, line: line)
        for (name, box) in [("header", g.header), ("active room", g.activeRoom), ("composer", g.composer), ("send button", g.send), ("newest message", g.newest)] {
            XCTAssertTrue(box.top >= 0 && box.bottom <= g.innerHeight && box.left >= 0 && box.right <= g.innerWidth,
                          "the \(name) is outside the \(Int(g.innerWidth))x\(Int(g.innerHeight)) viewport \(where_): \(box)", file: file, line: line)
        }
        XCTAssertEqual(g.newestText, text, where_, file: file, line: line)
        XCTAssertTrue(g.newest.top >= g.list.top - 1 && g.newest.bottom <= g.list.bottom + 1,
                      "the newest message (\(g.newest)) is not in the list's visible box (\(g.list)) \(where_)", file: file, line: line)
        XCTAssertLessThanOrEqual(g.list.bottom, g.composer.top + 1, "the list runs under the composer \(where_)", file: file, line: line)
        XCTAssertGreaterThan(g.listScrollHeight, g.listClientHeight, "the room is not full enough to scroll \(where_)", file: file, line: line)
        XCTAssertGreaterThan(g.listScrollTop, 0, "the list did not scroll to the newest message \(where_)", file: file, line: line)
    }

    private func checkFullRoom(at size: Viewport) async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("chat-server", ["--port", "0"], for: self)
        let robot = writer(port: server.port)
        // 30 messages before the reader arrives (from the room's history), 25 while she reads.
        for n in 1...30 { try await post(robot, Self.text(n)) }
        let ada = try await ChatPage.open(browser.devTools, port: server.port, size: size)
        try await ada.login("ada")
        try await ada.waitForMessage(from: "robot", Self.text(30))
        for n in 31...55 { try await post(robot, Self.text(n)) }
        try await ada.waitForMessage(from: "robot", Self.text(55))
        let full = try await geometry(ada)
        XCTAssertEqual(full.messageCount, 55)
        XCTAssertNil(full.jump, "the 'new messages' button shows for a reader at the bottom")
        assertLaidOut(full, size, newest: Self.text(55))
        // The document cannot be scrolled even when asked to.
        try await ada.page.evaluate("window.scrollTo(0, 10000); document.scrollingElement.scrollTop = 10000; true")
        let asked = try await geometry(ada)
        XCTAssertEqual(asked.scrollY, 0, "the document scrolled at \(size)")
        XCTAssertEqual(asked.header.top, full.header.top, "the header moved at \(size)")
        try await screenshot(ada, "chat-\(size.name)-full")

        // Scrolled up to read history: a new message leaves the view where it is and shows the button.
        try await ada.page.evaluate("document.getElementById('messages').scrollTop = 0; true")
        try await ada.page.waitFor("document.getElementById('messages').scrollTop === 0")
        try await ada.page.evaluate("new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(true))))")
        try await post(robot, Self.text(56))
        try await ada.waitForMessage(from: "robot", Self.text(56))
        try await ada.page.waitFor("!document.getElementById('jump').hidden")
        let up = try await geometry(ada)
        XCTAssertEqual(up.listScrollTop, 0, "the view moved while the reader was scrolled up at \(size)")
        XCTAssertEqual(up.jump, "1 new message ↓")
        XCTAssertGreaterThanOrEqual(up.newest.top, up.list.bottom - 1, "the new message is in view although the reader scrolled up")
        try await post(robot, Self.text(57))
        try await ada.page.waitFor("document.getElementById('jump').textContent === '2 new messages ↓'")
        let stillUp = try await geometry(ada)
        XCTAssertEqual(stillUp.listScrollTop, 0, "the view moved on the second message at \(size)")
        try await screenshot(ada, "chat-\(size.name)-scrolled-up")

        // The button jumps down to the newest message and goes away.
        try await ada.page.evaluate("document.getElementById('jump').click(); true")
        try await ada.page.waitFor("document.getElementById('jump').hidden")
        assertLaidOut(try await geometry(ada), size, newest: Self.text(57))

        // At the bottom, new messages scroll into view by themselves.
        try await post(robot, Self.text(58))
        try await ada.waitForMessage(from: "robot", Self.text(58))
        try await ada.page.evaluate("new Promise((resolve) => requestAnimationFrame(() => resolve(true)))")
        let followed = try await geometry(ada)
        assertLaidOut(followed, size, newest: Self.text(58))
        XCTAssertNil(followed.jump)

        // Her own message, sent from the composer, is in view above the composer.
        try await ada.send("my own words")
        try await ada.waitForMessage(from: "ada", "my own words")
        try await ada.page.waitFor("document.getElementById('text').value === ''")
        assertLaidOut(try await geometry(ada), size, newest: "my own words")

        // Other rooms count what she has not read; an empty room says so.
        try await post(robot, "over in random", room: "random")
        try await post(robot, "still in random", room: "random")
        let badge = "document.querySelector('#rooms [data-room=\"random\"] .badge')?.textContent"
        try await ada.page.waitFor("\(badge) === '2'", describe: badge)
        try await screenshot(ada, "chat-\(size.name)-unread")
        try await ada.switchRoom("swift")
        try await ada.page.waitFor("!document.getElementById('empty').hidden")
        let empty = try await ada.text(of: "empty")
        XCTAssertEqual(empty, "No messages in #swift yet. Say hello!")
        let emptyBox = try await ada.page.string("JSON.stringify(document.getElementById('empty').getBoundingClientRect())")
        XCTAssertFalse(emptyBox.contains("\"height\":0"), "the empty-room note takes no space: \(emptyBox)")
        try await screenshot(ada, "chat-\(size.name)-empty-room")
        try await ada.switchRoom("random")
        try await ada.waitForMessage(from: "robot", "still in random")
        try await ada.page.waitFor("\(badge) === undefined && document.getElementById('empty').hidden", describe: badge)
        let shown = try await ada.messageTexts()
        XCTAssertEqual(shown, ["over in random", "still in random"])
    }

    func test_chatLayout_fullRoom_keepsHeaderComposerAndNewestInView_withoutDocumentScroll_onDesktop() async throws {
        try await checkFullRoom(at: .desktop)
    }

    func test_chatLayout_fullRoom_keepsHeaderComposerAndNewestInView_withoutDocumentScroll_onPhone() async throws {
        try await checkFullRoom(at: .phone)
    }

    func test_chatLayout_onlineList_opensAndClosesFromTheTopBar_onPhone() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("chat-server", ["--port", "0"], for: self)
        let ada = try await ChatPage.open(browser.devTools, port: server.port, size: .phone)
        let grace = try await ChatPage.open(browser.devTools, port: server.port, size: .phone)
        try await ada.login("ada")
        try await grace.login("grace")
        try await ada.page.waitFor("document.getElementById('people-count').textContent === '2'")
        let people = "(() => { const r = document.getElementById('people').getBoundingClientRect(); return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= innerWidth && r.top >= 0 && r.bottom <= innerHeight; })()"
        let hiddenAtFirst = try await ada.page.evaluate(people) as? Bool
        XCTAssertEqual(hiddenAtFirst, false, "the online list covers the conversation before it is asked for")
        let toggle = try await ada.page.evaluate("(() => { const r = document.getElementById('people-toggle').getBoundingClientRect(); return r.width > 0 && r.top >= 0 && r.right <= innerWidth; })()") as? Bool
        XCTAssertEqual(toggle, true, "no visible toggle for the online list on a phone")
        try await ada.page.evaluate("document.getElementById('people-toggle').click(); true")
        try await ada.page.waitFor(people)
        let listed = try await ada.page.string("[...document.querySelectorAll('#users li')].map((li) => li.textContent).join(',')")
        XCTAssertEqual(listed, "ada,grace")
        let expanded = try await ada.page.string("document.getElementById('people-toggle').getAttribute('aria-expanded')")
        XCTAssertEqual(expanded, "true")
        try await screenshot(ada, "chat-phone-online-list")
        try await ada.page.evaluate("document.getElementById('people-close').click(); true")
        try await ada.page.waitFor("!(\(people))")
    }

    func test_chatPage_formatsTimes_withTheDate_whenNotToday() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("chat-server", ["--port", "0"], for: self)
        let page = try await ChatPage.open(browser.devTools, port: server.port)
        let json = try await page.page.string("""
            import('/chat.js').then(({ formatTime }) => {
              const now = new Date(2026, 5, 15, 18, 30);
              const at = (year, month, day) => new Date(year, month, day, 14, 5).getTime();
              const clock = new Date(at(2026, 5, 15)).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
              return JSON.stringify({ clock, today: formatTime(at(2026, 5, 15), now), yesterday: formatTime(at(2026, 5, 14), now),
                                      thisYear: formatTime(at(2026, 2, 3), now), before: formatTime(at(2024, 2, 3), now),
                                      newYear: formatTime(at(2025, 11, 31), new Date(2026, 0, 1, 9, 0)) });
            })
            """)
        let times = try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
        let clock = try XCTUnwrap(times["clock"])
        XCTAssertEqual(times["today"], clock, "today shows the time only")
        XCTAssertEqual(times["yesterday"], "Yesterday \(clock)")
        XCTAssertEqual(times["newYear"], "Yesterday \(clock)", "yesterday across a new year")
        let thisYear = try XCTUnwrap(times["thisYear"])
        XCTAssertTrue(thisYear.contains("Mar") && thisYear.contains("3") && thisYear.hasSuffix(clock) && !thisYear.contains("2026"), thisYear)
        let before = try XCTUnwrap(times["before"])
        XCTAssertTrue(before.contains("Mar") && before.contains("2024") && before.hasSuffix(clock), before)
    }
}
