import Foundation
import ParleyClient
import XCTest

/// The chat's presence announcements (`chat-server`, a child process) seen by a person on the
/// Swift client: a page taking its nickname back from its own stale connection is neither
/// "left" nor "joined"; another page cannot take it; a real leave is announced.
final class ChatPresenceTests: XCTestCase {
    private struct Presence: Decodable, Sendable {
        var users: [String]
        var joined: String?
        var left: String?
    }

    /// A page of the chat on the Swift client, its presence events as lines
    /// ("users ada,grace joined - left -").
    private func page(_ nickname: String, key: String, port: Int) -> (client: Client, presence: LineBox) {
        var options = Client.Options()
        options.query = ["token": nickname, "key": key]
        options.reconnection = false
        let client = Client(url: "ws://127.0.0.1:\(port)/parley", options: options)
        let presence = LineBox()
        client.on("presence") { (event: Presence) in
            presence.put("users \(event.users.joined(separator: ",")) joined \(event.joined ?? "-") left \(event.left ?? "-")")
        }
        client.on("connect_error") { (message: String) in presence.put("refused \(message)") }
        client.on("disconnect") { (reason: String) in presence.put("disconnected \(reason)") }
        addTeardownBlock { client.disconnect() }
        return (client, presence)
    }

    func test_chatPresence_pageTakingBackItsNickname_isNeitherLeftNorJoined_andOthersCannotTakeIt() async throws {
        let server = try await ChildProcess.start("chat-server", ["--port", "0"], for: self)
        let grace = page("grace", key: "grace-key", port: server.port)
        try await grace.presence.next { $0 == "users grace joined grace left -" }
        let stale = page("ada", key: "ada-key", port: server.port)
        let first = try await grace.presence.next { _ in true }
        XCTAssertEqual(first, "users ada,grace joined ada left -")

        // The same page (same key) on a new connection, before the server noticed the old one
        // was gone: the nickname passes over quietly, the old connection is let go.
        let back = page("ada", key: "ada-key", port: server.port)
        let handover = try await grace.presence.next { _ in true }
        XCTAssertEqual(handover, "users ada,grace joined - left -")
        try await stale.presence.next { $0 == "disconnected io server disconnect" }
        try await back.presence.next { $0.hasPrefix("users ada,grace") }

        // Anyone else asking for the nickname is refused.
        let impostor = page("ada", key: "other-key", port: server.port)
        let refused = try await impostor.presence.next { _ in true }
        XCTAssertEqual(refused, "refused \"ada\" is taken: pick another nickname.")

        // A real leave is announced.
        back.client.disconnect()
        let left = try await grace.presence.next { _ in true }
        XCTAssertEqual(left, "users grace joined - left ada")
    }
}
