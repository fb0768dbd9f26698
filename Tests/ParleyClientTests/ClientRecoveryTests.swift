import Foundation
import Parley
import ParleyClient
import ParleyProtocol
import Synchronization
import TestSupport
import XCTest

final class ClientRecoveryTests: XCTestCase {
    /// A server with connection state recovery whose sockets join the room of their `join`
    /// event (acked); `configure` changes the rest.
    private func recoveryServer(port: Int = 0, _ configure: (inout Server.Configuration) -> Void = { _ in }) throws -> Server {
        let io = try startServer(port: port) { configuration in
            configuration.connectionStateRecovery = Server.ConnectionStateRecovery()
            configure(&configuration)
        }
        io.onConnection { socket in
            socket.on("join") { (room: String, ack: Ack) in
                try socket.join(room)
                ack()
            }
            socket.on("state") { (ack: Ack) in ack(SocketState(id: socket.id, rooms: socket.rooms.sorted(), recovered: socket.recovered)) }
        }
        return io
    }

    func testRecovery_thousandBroadcastsWhileCutEvery100ms_everyNumberOnceInOrder_sameIDAndRooms() async throws {
        let io = try recoveryServer()
        let side = ServerSide(io.main)
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let (client, log) = makeClient("ws://127.0.0.1:\(proxy.port)/parley")
        let received = Locked<[Int]>([])
        let done = Mailbox<Void>()
        client.on("n") { (number: Int) in
            received.withLock { $0.append(number) }
            if number == 1000 { done.put(()) }
        }
        client.connect()
        try await log.expect(.connect)
        let id = try XCTUnwrap(client.id)
        let _: RawJSON = try await client.emitWithAck("join", "numbers")
        _ = try await side.socket(id: id)
        // Cuts every ~100 ms while the numbers go out at full speed, in bursts of 10.
        let cutting = Atomic<Bool>(true)
        let cutter = Task {
            var cuts = 0
            while true {
                try? await Task.sleep(for: .milliseconds(100))
                guard cutting.load(ordering: .acquiring) else { return cuts }
                cuts += proxy.cut()
            }
            return cuts
        }
        for number in 1...1000 {
            try io.to("numbers").emit("n", number)
            if number % 10 == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        _ = try await done.expect("number 1000", timeout: .seconds(30))
        cutting.store(false, ordering: .releasing)
        let cuts = await cutter.value
        XCTAssertGreaterThanOrEqual(cuts, 2, "the connection was cut while numbers went out")
        let numbers = received.value
        XCTAssertEqual(numbers.count, 1000, "no number lost, none twice")
        XCTAssertEqual(numbers, Array(1...1000), "in order")
        // The server's view, asked over the connection (after a last cut, on the next one).
        var state: SocketState?
        for _ in 0..<5 where state == nil {
            do { state = try await client.emitWithAck("state") } catch ClientError.disconnected { _ = try await log.skip(until: "connect") { $0 == .connect } }
        }
        XCTAssertEqual(client.id, id)
        XCTAssertTrue(client.recovered)
        XCTAssertNil(client.recoveryFailure)
        XCTAssertEqual(state, SocketState(id: id, rooms: [id, "numbers"].sorted(), recovered: true))
    }

    func testAuth_closureCalledOncePerAttempt_middlewareSeesEachToken() async throws {
        let io = try startServer()
        let seen = Locked<[String]>([])
        io.use { handshake in seen.withLock { $0.append(handshake.query["token"] ?? "none") } }
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let calls = Locked(0)
        let (client, log) = makeClient("ws://127.0.0.1:\(proxy.port)/parley") { options in
            options.query = ["token": "static", "room": "a"]
            options.auth = {
                let call = calls.withLock { count -> Int in
                    count += 1
                    return count
                }
                return ["token": "t\(call)"]
            }
        }
        client.connect()
        try await log.expect(.connect)
        for _ in 0..<2 {
            proxy.cut()
            _ = try await log.skip(until: "connect") { $0 == .connect }
        }
        XCTAssertEqual(seen.value, ["t1", "t2", "t3"])
        XCTAssertEqual(calls.value, 3)
    }

    func testAuth_closureThatThrows_failsThatAttemptOnly() async throws {
        let io = try startServer()
        struct Unavailable: Error {}
        let calls = Locked(0)
        let (client, log) = makeClient(io.url) { options in
            options.auth = {
                let call = calls.withLock { count -> Int in
                    count += 1
                    return count
                }
                if call == 1 { throw Unavailable() }
                return ["token": "ok"]
            }
        }
        client.connect()
        let refusal = try await log.next()
        guard case .connectError(let message, _) = refusal else { return XCTFail("expected connect_error, got \(refusal)") }
        XCTAssertTrue(message.hasPrefix("auth failed"), message)
        _ = try await log.skip(until: "connect") { $0 == .connect }
        XCTAssertEqual(calls.value, 2)
    }

    func testRetries_ackedEmitsSurviveTwoServerRestarts_handlerRanOncePerEmit() async throws {
        let runs = Locked<[Int: Int]>([:])
        let install: @Sendable (Server) -> Void = { io in
            io.onConnection { socket in
                socket.on("work") { (number: Int, ack: Ack) in
                    runs.withLock { $0[number, default: 0] += 1 }
                    ack(number * 2)
                }
            }
        }
        var io = try recoveryServer()
        install(io)
        let port = io.port
        let (client, log) = makeClient(io.url) { options in
            options.retries = 5
            options.ackTimeout = .seconds(2)
        }
        client.connect()
        try await log.expect(.connect)
        let results = Locked<[Int: Int]>([:])
        let finished = Mailbox<Int>()
        let start = { @Sendable (range: ClosedRange<Int>) in
            for number in range {
                Task {
                    let answer: Int? = try? await client.emitWithAck("work", number)
                    if let answer { results.withLock { $0[number] = answer } }
                    finished.put(number)
                }
            }
        }
        start(1...20)
        for round in 0..<2 {
            await io.close(gracePeriod: .milliseconds(200))
            start((21 + round * 20)...(40 + round * 20))   // while no server listens
            io = try recoveryServer(port: port)
            install(io)
        }
        for _ in 1...60 { _ = try await finished.expect("an emit to finish", timeout: .seconds(20)) }
        XCTAssertEqual(results.value.count, 60, "every emit was answered")
        XCTAssertTrue(results.value.allSatisfy { $0.value == $0.key * 2 })
        XCTAssertEqual(runs.value.count, 60)
        XCTAssertEqual(runs.value.filter { $0.value != 1 }, [:], "each handler ran once")
    }

    func testRetries_answerLostInACut_reSentAndDeduplicated_handlerRanOnce() async throws {
        let io = try recoveryServer()
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let runs = Locked(0)
        io.onConnection { socket in
            socket.on("pay") { (amount: Int, ack: Ack) in
                let run = runs.withLock { count -> Int in
                    count += 1
                    return count
                }
                // The first time, the connection is cut before the answer can leave.
                if run == 1 { proxy.cut() }
                ack("paid \(amount)")
            }
        }
        let (client, log) = makeClient("ws://127.0.0.1:\(proxy.port)/parley") { options in
            options.retries = 3
            options.ackTimeout = .seconds(3)
        }
        client.connect()
        try await log.expect(.connect)
        let answer: String = try await client.emitWithAck("pay", 10)
        XCTAssertEqual(answer, "paid 10")
        XCTAssertEqual(runs.value, 1, "the re-sent emit was answered from the server's memory")
        let second: String = try await client.emitWithAck("pay", 20)
        XCTAssertEqual(second, "paid 20")
        XCTAssertEqual(runs.value, 2)
    }

    func testRetries_withoutRetries_emitInFlightFailsOnCut() async throws {
        let io = try recoveryServer()
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        io.onConnection { socket in
            socket.on("pay") { (_: Int, _: Ack) in proxy.cut() }
        }
        let (client, log) = makeClient("ws://127.0.0.1:\(proxy.port)/parley")
        client.connect()
        try await log.expect(.connect)
        do {
            let _: String = try await client.emitWithAck("pay", 10)
            XCTFail("an emit without retries cannot survive the cut")
        } catch let error as ClientError {
            XCTAssertEqual(error, .disconnected)
        }
    }
}

/// What the test server's `state` event answers.
struct SocketState: Codable, Sendable, Equatable {
    var id: String
    var rooms: [String]
    var recovered: Bool
}
