import Foundation
import ParleyWebSocket
import Synchronization
import XCTest

/// `parley-server`'s answers at its limits, over real sockets to the child process: refused
/// joins get an error ack naming the limit, and token guessing gets 429.
final class RelayLimitsTests: XCTestCase {
    /// Text messages of one WebSocket, in order, awaited with a timeout.
    private final class Inbox: Sendable {
        private let state = Mutex<(messages: [String], waiter: CheckedContinuation<String?, Never>?)>(([], nil))

        func put(_ text: String) {
            let waiter = state.withLock { state -> CheckedContinuation<String?, Never>? in
                if let waiter = state.waiter { state.waiter = nil; return waiter }
                state.messages.append(text)
                return nil
            }
            waiter?.resume(returning: text)
        }

        /// The next text message within 5 s, or nil.
        func next() async -> String? {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> String? in
                    if !state.messages.isEmpty { return state.messages.removeFirst() }
                    state.waiter = continuation
                    return nil
                }
                if let ready { return continuation.resume(returning: ready) }
                DispatchQueue.global().asyncAfter(deadline: .now() + 5) { [self] in
                    state.withLock { state in
                        defer { state.waiter = nil }
                        return state.waiter
                    }?.resume(returning: nil)
                }
            }
        }
    }

    /// A WebSocket to the relay whose text messages are collected from the first one on.
    private struct Peer {
        let socket: WebSocket
        let inbox = Inbox()

        init(url: String) async throws {
            let inbox = self.inbox
            socket = try await WebSocketClient.connect(to: url) { socket in
                socket.onMessage { _, message in
                    if case .text(let text) = message { inbox.put(text) }
                }
            }
        }

        func next() async -> String? { await inbox.next() }
    }

    /// The socket id in a `connect` envelope.
    private func socketID(inConnect text: String) throws -> String {
        struct Connect: Decodable { struct Info: Decodable { let id: String }; let data: Info }
        return try JSONDecoder().decode(Connect.self, from: Data(text.utf8)).data.id
    }

    func test_relayJoin_answersErrorAckNamingTheLimit_forLongNamesAndSocketIDs() async throws {
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1"], for: self)
        let url = "ws://127.0.0.1:\(server.port)/parley"
        let peer = try await Peer(url: url)
        let other = try await Peer(url: url)
        let connect = await peer.next() ?? "nothing"
        XCTAssertTrue(connect.hasPrefix(#"{"event":"connect""#), connect)
        let otherConnect = await other.next() ?? "nothing"
        let otherID = try socketID(inConnect: otherConnect)
        let long = String(repeating: "x", count: 257)
        peer.socket.send(text: #"{"event":"join","data":"\#(long)","id":1}"#)
        let tooLong = await peer.next()
        XCTAssertEqual(tooLong, #"{"ack":1,"error":{"message":"room name over 256 bytes"}}"#)
        peer.socket.send(text: #"{"event":"join","data":"\#(otherID)","id":2}"#)
        let reserved = await peer.next() ?? "nothing"
        XCTAssertTrue(reserved.hasPrefix(#"{"ack":2,"error":{"message":"'\#(otherID)' is reserved"#), reserved)
        peer.socket.send(text: #"{"event":"join","data":"lobby","id":3}"#)
        let joined = await peer.next()
        XCTAssertEqual(joined, #"{"ack":3}"#)
    }

    func test_relayRoom_relaysAMegabyteEvent_asItCame() async throws {
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1"], for: self)
        let url = "ws://127.0.0.1:\(server.port)/parley"
        let sender = try await Peer(url: url)
        let member = try await Peer(url: url)
        _ = await sender.next()
        _ = await member.next()
        member.socket.send(text: #"{"event":"join","data":"r","id":1}"#)
        let joined = await member.next()
        XCTAssertEqual(joined, #"{"ack":1}"#)
        // 900 KB of small numbers after the room name: only the name is read (RawJSON.string(forKey:)).
        let data = #"{"room":"r","items":["# + Array(repeating: "0", count: 450_000).joined(separator: ",") + "]}"
        let start = ContinuousClock.now
        sender.socket.send(text: #"{"event":"room","data":"# + data + #","id":2}"#)
        let answer = await sender.next()
        XCTAssertEqual(answer, #"{"ack":2}"#)
        let elapsed = secondsSince(start)
        let relayed = await member.next()
        XCTAssertEqual(relayed, #"{"event":"room","data":"# + data + "}", "the data relayed byte for byte")
        print("relay: room event of \(data.utf8.count) bytes acknowledged in \(Int(elapsed * 1000)) ms")
        sender.socket.send(text: #"{"event":"room","data":{"rooms":"r"},"id":3}"#)
        let refused = await sender.next()
        XCTAssertEqual(refused, #"{"ack":3,"error":{"message":"room needs data {\"room\":NAME,...}"}}"#)
    }

    func test_relayToken_guessesGet429_afterTheRefusalLimit() async throws {
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1", "--token", "tok", "--refusal-limit", "3/60"],
                                                  for: self)
        let url = "ws://127.0.0.1:\(server.port)/parley"
        for guess in 0..<3 {
            let peer = try await Peer(url: url + "?token=guess\(guess)")
            let refusal = await peer.next()
            XCTAssertEqual(refusal, #"{"event":"connect_error","data":{"message":"unauthorized"}}"#)
        }
        do {
            _ = try await Peer(url: url + "?token=tok")
            XCTFail("the upgrade must be refused with 429")
        } catch let error as WebSocketError {
            guard case .handshakeRejected(let status, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(status, 429)
        }
    }
}

/// Seconds elapsed since `start`.
private func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let (seconds, attoseconds) = (ContinuousClock.now - start).components
    return Double(seconds) + Double(attoseconds) / 1e18
}
