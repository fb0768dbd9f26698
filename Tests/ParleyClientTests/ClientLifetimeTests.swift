import Parley
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import ParleyClient

/// Memory and descriptors: a released client leaves nothing behind; many clients share a process.
final class ClientLifetimeTests: XCTestCase {
    /// Connects a client to `io`, exchanges an ack, disconnects it, awaits both ends of the
    /// connection being closed, releases it, and returns whether it was freed.
    private func connectUseAndRelease(_ io: Server, _ server: ServerSide) async throws -> Bool {
        let closed = Mailbox<Void>()
        var options = Client.Options()
        options.autoConnect = false
        options.transportClosedHook = { closed.put(()) }
        var client: Client? = Client(url: io.url, options: options)
        weak let weakClient = client
        let connected = Mailbox<Void>()
        client?.on(.connect) { connected.put(()) }
        client?.connect()
        try await connected.expect("connect")
        let echoed = try await client?.emitWithAck("echo", "still here", as: String.self)
        XCTAssertEqual(echoed, "still here")
        let id = try XCTUnwrap(client?.id)
        XCTAssertNotNil(weakClient, "an active client is alive")
        client?.disconnect()
        _ = try await server.disconnects.expect("the server side closed") { $0 == id }
        try await closed.expect("the client side closed")
        client = nil
        return weakClient == nil
    }

    func test_client_isFreedAndLeavesNoDescriptor_afterDisconnectAndRelease() async throws {
        let io = try startServer()
        installHandlers(on: io.main)
        let server = ServerSide(io.main)
        // A first round opens whatever the process opens lazily (loops, Dispatch's descriptors).
        let warmedUp = try await connectUseAndRelease(io, server)
        XCTAssertTrue(warmedUp)
        let before = try openDescriptorCount()
        let freed = try await connectUseAndRelease(io, server)
        XCTAssertTrue(freed, "the client must deinitialise once disconnected and released")
        XCTAssertEqual(try openDescriptorCount(), before)
    }

    func test_client_keepsItselfAlive_whileActive_evenWhenReleased() async throws {
        let io = try startServer()
        installHandlers(on: io.main)
        let server = ServerSide(io.main)
        let connected = Mailbox<String>()
        weak var weakClient: Client?
        do {
            var options = Client.Options()
            options.autoConnect = false
            let client = Client(url: io.url, options: options)
            weakClient = client
            client.on(.connect) { connected.put("connect") }
            client.connect()
        }
        _ = try await connected.expect("connect of the released client")
        let client = try XCTUnwrap(weakClient, "a connected client must not be freed mid-session")
        let socket = try await server.sockets.expect("its socket")
        XCTAssertEqual(client.id, socket.id)
        client.disconnect()
    }

    func test_thousandClients_connectToOneServer_inBoundedTime() async throws {
        let count = 1_000
        let io = try startServer()
        let start = ContinuousClock.now
        let connected = Countdown(count)
        let broadcast = Countdown(count)
        var clients: [Client] = []
        clients.reserveCapacity(count)
        var options = Client.Options()
        options.autoConnect = false
        for _ in 0..<count {
            let client = Client(url: io.url, options: options)
            client.once(.connect) { connected.tick() }
            client.on("news") { (_: String) in broadcast.tick() }
            clients.append(client)
        }
        for client in clients { client.connect() }
        let allConnected = await connected.wait(timeout: .seconds(10))
        XCTAssertTrue(allConnected, "\(connected.remaining) clients not connected")
        XCTAssertEqual(io.clientCount, count)
        try io.emit("news", "hello, all")
        let allReached = await broadcast.wait(timeout: .seconds(10))
        XCTAssertTrue(allReached, "\(broadcast.remaining) clients missed the broadcast")
        XCTAssertLessThan(secondsSince(start), 10)

        let gone = Countdown(count)
        for socket in io.fetchSockets() { socket.onDisconnect { _ in gone.tick() } }
        for client in clients { client.disconnect() }
        let allGone = await gone.wait(timeout: .seconds(10))
        XCTAssertTrue(allGone, "\(gone.remaining) server sockets still open")
    }
}
