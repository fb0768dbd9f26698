import Foundation
import XCTest

/// The chat example (`chat-server`, a child process) in headless Chromium: two pages chatting,
/// refusals, untrusted text, and a server restart.
final class ChatBrowserTests: XCTestCase {
    private func startChat() async throws -> (server: ChildProcess, browser: Chromium) {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("chat-server", ["--port", "0"], for: self)
        return (server, browser)
    }

    func test_chat_twoPages_exchangeMessagesBothWays_withPresenceAndTyping() async throws {
        let (server, browser) = try await startChat()
        let ada = try await ChatPage.open(browser.devTools, port: server.port)
        let grace = try await ChatPage.open(browser.devTools, port: server.port)
        try await ada.login("ada")
        try await grace.login("grace")

        // Presence: ada sees grace arrive.
        try await ada.page.waitFor("[...document.querySelectorAll('#users li')].map((li) => li.textContent).join(',') === 'ada,grace'")
        try await ada.page.waitFor("[...document.querySelectorAll('#messages .notice')].some((n) => n.textContent === 'grace joined')")

        try await ada.send("Hello grace!")
        try await grace.waitForMessage(from: "ada", "Hello grace!")
        try await grace.send("Hi ada, loud and clear.")
        try await ada.waitForMessage(from: "grace", "Hi ada, loud and clear.")
        // The author sees her own message too, with a time.
        try await ada.waitForMessage(from: "ada", "Hello grace!")
        let time = try await ada.page.string("document.querySelector('#messages .message time').textContent")
        XCTAssertFalse(time.isEmpty)

        // Typing: grace types, ada sees it; grace sends, it goes away.
        try await grace.page.evaluate("(() => { const i = document.getElementById('text'); i.value = 'typ'; i.dispatchEvent(new Event('input')); return true; })()")
        try await ada.page.waitFor("document.getElementById('typing').textContent === 'grace is typing…'")
        try await grace.send("done typing")
        try await ada.waitForMessage(from: "grace", "done typing")
        try await ada.page.waitFor("document.getElementById('typing').textContent === ''")

        // Rooms: messages stay in their room; history follows a late joiner.
        try await ada.switchRoom("random")
        try await ada.send("only in random")
        try await grace.send("only in general")
        try await grace.switchRoom("random")
        try await grace.waitForMessage(from: "ada", "only in random")   // from the room's history
        try await grace.send("fence")
        try await ada.waitForMessage(from: "grace", "fence")
        let shown = try await ada.messageTexts()
        XCTAssertEqual(shown, ["only in random", "fence"], "a message of another room reached this one")

        // Leaving: grace closes her page, ada sees her go.
        _ = try await grace.page.call("Page.close")
        try await ada.page.waitFor("[...document.querySelectorAll('#messages .notice')].some((n) => n.textContent === 'grace left')")
        try await ada.page.waitFor("document.getElementById('online-count').textContent === '1'")
    }

    func test_chat_refusedNickname_showsTheServersMessage_andAnotherNameJoins() async throws {
        let (server, browser) = try await startChat()
        let ada = try await ChatPage.open(browser.devTools, port: server.port)
        let other = try await ChatPage.open(browser.devTools, port: server.port)
        try await ada.login("ada")

        let cases = [
            ("", "Pick a nickname first."),
            ("   ", "Pick a nickname first."),
            ("ada", "\"ada\" is taken: pick another nickname."),
            (String(repeating: "x", count: 25), "Nicknames are at most 24 characters."),
        ]
        for (nickname, message) in cases {
            try await other.submitNickname(nickname)
            try await other.page.waitFor("document.getElementById('login-error').textContent === \(jsString(message))",
                                         describe: "document.getElementById('login-error').textContent")
            let chatHidden = try await other.page.evaluate("document.getElementById('app').hidden") as? Bool
            XCTAssertEqual(chatHidden, true, "a refused nickname must not enter the chat")
        }
        try await other.login("grace")
        try await ada.page.waitFor("document.getElementById('online-count').textContent === '2'")
    }

    func test_chat_untrustedText_isRenderedAsText_andLongMessagesAreRefused() async throws {
        let (server, browser) = try await startChat()
        let mallory = try await ChatPage.open(browser.devTools, port: server.port)
        let ada = try await ChatPage.open(browser.devTools, port: server.port)
        let nickname = "<i>mal</i>"
        let payload = "<img src=x onerror=\"window.__xss = 1\"><script>window.__xss = 2</script>"
        try await mallory.login(nickname)
        try await ada.login("ada")
        try await mallory.send(payload)
        try await ada.waitForMessage(from: nickname, payload)

        let injected = try await ada.page.evaluate("""
            document.querySelectorAll('#messages img, #messages script, #messages i, #users i').length
              + (window.__xss === undefined ? 0 : 100)
            """) as? Int
        XCTAssertEqual(injected, 0, "user text was parsed as HTML")
        let listed = try await ada.page.string("[...document.querySelectorAll('#users li')].map((li) => li.textContent).join(',')")
        XCTAssertTrue(listed.contains(nickname), listed)
        let author = try await ada.page.string("document.querySelector('#messages .message .author').textContent")
        XCTAssertEqual(author, nickname)

        // The server's length limit, shown to the sender; nothing reaches the others.
        try await ada.send(String(repeating: "a", count: 501))
        try await ada.page.waitFor("document.getElementById('send-error').textContent === 'Messages are at most 500 characters (this one has 501).'",
                                   describe: "document.getElementById('send-error').textContent")
        try await ada.send("fence")
        try await mallory.waitForMessage(from: "ada", "fence")
        let seen = try await mallory.messageTexts()
        XCTAssertEqual(seen, [payload, "fence"])
    }

    func test_chat_serverRestart_showsReconnecting_thenBothPagesRecoverAndChat() async throws {
        let (server, browser) = try await startChat()
        let ada = try await ChatPage.open(browser.devTools, port: server.port)
        let grace = try await ChatPage.open(browser.devTools, port: server.port)
        try await ada.login("ada")
        try await grace.login("grace")
        try await ada.send("before the restart")
        try await grace.waitForMessage(from: "ada", "before the restart")

        server.stop()
        for page in [ada, grace] {
            try await page.page.waitFor("document.getElementById('status').dataset.state === 'reconnecting' && !document.getElementById('banner').hidden",
                                        describe: "document.getElementById('status').textContent")
        }
        // Written while offline: kept by parley.js, sent once the page is back.
        try await ada.send("written while offline")
        let restarted = try await ChildProcess.start("chat-server", ["--port", String(server.port)], for: self)
        XCTAssertEqual(restarted.port, server.port)
        for page in [ada, grace] {
            try await page.waitUntilConnected(timeout: .seconds(20))
            try await page.page.waitFor("document.getElementById('banner').hidden")
        }
        try await grace.waitForMessage(from: "ada", "written while offline")
        try await ada.send("after the restart")
        try await grace.waitForMessage(from: "ada", "after the restart")
        try await grace.send("still here")
        try await ada.waitForMessage(from: "grace", "still here")
        // What was shown before the restart is still shown, nothing twice.
        let shown = try await grace.messageTexts()
        XCTAssertEqual(shown, ["before the restart", "written while offline", "after the restart", "still here"])
        let composer = try await ada.page.string("document.getElementById('text').value + '|' + document.getElementById('send-error').textContent")
        XCTAssertEqual(composer, "|", "the offline message was not acknowledged")
        // Nobody saw anyone leave: coming back after the restart is not announced as joining.
        let notices = "[...document.querySelectorAll('#messages .notice')].map((n) => n.textContent).join(',')"
        let adaNotices = try await ada.page.string(notices)
        XCTAssertEqual(adaNotices, "grace joined", "ada was told again that grace joined, or that she left")
        let graceNotices = try await grace.page.string(notices)
        XCTAssertEqual(graceNotices, "", "grace was told that ada joined or left")
        try await ada.page.waitFor("[...document.querySelectorAll('#users li')].map((li) => li.textContent + (li.classList.contains('away') ? '?' : '')).join(',') === 'ada,grace'")
    }
}
