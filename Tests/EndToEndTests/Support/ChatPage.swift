import Foundation

/// The chat example's page in a browser tab, driven through its DOM as a person would.
struct ChatPage {
    let page: Page
    let url: String

    static func open(_ devTools: DevTools, port: Int, size: Viewport = .default, scheme: String = "http") async throws -> ChatPage {
        let url = "\(scheme)://127.0.0.1:\(port)/"
        let page = try await devTools.newPage(width: size.width, height: size.height, mobile: size.mobile)
        try await page.open(url, ready: "document.readyState === 'complete' && !!document.getElementById('login-form')")
        return ChatPage(page: page, url: url)
    }

    /// Types `nickname` into the login form and submits it.
    func submitNickname(_ nickname: String) async throws {
        try await page.evaluate("""
            document.getElementById('nickname').value = \(jsString(nickname));
            document.getElementById('login-form').requestSubmit(); true
            """)
    }

    /// Logs in and waits until the chat shows, connected, in a room.
    func login(_ nickname: String) async throws {
        try await submitNickname(nickname)
        try await waitUntilConnected()
        try await page.waitFor("document.getElementById('me').textContent === \(jsString(nickname))")
    }

    func waitUntilConnected(timeout: Duration = .seconds(10)) async throws {
        try await page.waitFor("""
            !document.getElementById('app').hidden && document.getElementById('status').dataset.state === 'connected'
              && document.getElementById('room-title').textContent.startsWith('# ')
            """, timeout: timeout, describe: "document.getElementById('status').textContent")
    }

    /// Sends `text` with the composer (as typed: `input` events, then submit).
    func send(_ text: String) async throws {
        try await page.evaluate("""
            (() => { const input = document.getElementById('text');
              input.value = \(jsString(text)); input.dispatchEvent(new Event('input'));
              document.getElementById('composer').requestSubmit(); return true; })()
            """)
    }

    /// Waits for a message by `author` whose text is exactly `text` in the shown room.
    func waitForMessage(from author: String, _ text: String, timeout: Duration = .seconds(10)) async throws {
        try await page.waitFor("""
            [...document.querySelectorAll('#messages .message')].some((item) =>
              item.dataset.author === \(jsString(author)) && item.querySelector('.text').textContent === \(jsString(text)))
            """, timeout: timeout, describe: "[...document.querySelectorAll('#messages li')].map((i) => i.textContent).join(' | ')")
    }

    /// The texts of the messages shown, oldest first.
    func messageTexts() async throws -> [String] {
        let json = try await page.string("JSON.stringify([...document.querySelectorAll('#messages .message .text')].map((e) => e.textContent))")
        return try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }

    func text(of id: String) async throws -> String {
        try await page.string("document.getElementById(\(jsString(id))).textContent")
    }

    /// Clicks the room button of `room` and waits for its title.
    func switchRoom(_ room: String) async throws {
        try await page.evaluate("""
            [...document.querySelectorAll('#rooms button')].find((b) => b.dataset.room === \(jsString(room))).click(); true
            """)
        try await page.waitFor("document.getElementById('room-title').textContent === \(jsString("# " + room))")
    }
}

/// A browser viewport the chat is tried at.
struct Viewport: Sendable, CustomStringConvertible {
    var name: String
    var width: Int
    var height: Int
    var mobile: Bool

    static let `default` = Viewport(name: "default", width: 1100, height: 700, mobile: false)
    static let desktop = Viewport(name: "desktop", width: 1280, height: 800, mobile: false)
    /// A current phone in portrait (390 x 844 CSS pixels).
    static let phone = Viewport(name: "phone", width: 390, height: 844, mobile: true)

    var description: String { "\(name) \(width)x\(height)" }
}
