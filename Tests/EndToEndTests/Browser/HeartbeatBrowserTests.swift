import Foundation
import Parley
import ParleyWebSocket
import Synchronization
import XCTest

/// parley.js notices a dead connection by itself (Protocol.md 5.4): browsers hide pings.
final class HeartbeatBrowserTests: XCTestCase {
    /// A page of the server's origin that imports parley.js and records what the client reports.
    private static let page = HTTPResponse.resource(Array("""
        <!doctype html><title>heartbeat</title>
        <script type="module">
        import { connect } from "/parley.js";
        window.log = [];
        window.sent = [];
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (text) { window.sent.push(JSON.parse(text)); return send.call(this, text); };
        const socket = connect("/parley");
        for (const event of ["connect", "disconnect", "reconnect_attempt", "reconnect", "connect_error"]) {
          socket.on(event, (detail) => window.log.push(detail === undefined ? event : event + " " + (detail.message ?? detail)));
        }
        window.socket = socket;
        </script>
        """.utf8), contentType: "text/html; charset=utf-8")

    func test_parleyJS_dropsAndReconnects_whenTheServerStopsAnswering() async throws {
        // A server that accepts, announces 300 ms / 300 ms, then never says anything again
        // (and, like a frozen peer, never pings).
        let connections = Atomic<Int>(0)
        let heartbeats = Atomic<Int>(0)
        var configuration = WebSocketServer.Configuration(host: "127.0.0.1", port: 0, path: "/parley")
        configuration.webSocket.pingInterval = nil
        configuration.routes["/"] = Self.page
        configuration.routes["/parley.js"] = Server.clientScript
        let silent = WebSocketServer(configuration: configuration) { socket, _ in
            let number = connections.add(1, ordering: .relaxed).newValue
            socket.send(text: #"{"event":"connect","data":{"id":"silent\#(number)","pingInterval":300,"pingTimeout":300}}"#)
            socket.onMessage { _, message in
                if case .text(let text) = message, text.contains(#""event":"heartbeat""#) { heartbeats.add(1, ordering: .relaxed) }
            }
        }
        let port = try silent.start()
        addTeardownBlock { await silent.shutdown(gracePeriod: .milliseconds(200)) }
        let browser = try await Chromium.launch(for: self)
        let page = try await browser.devTools.newPage()
        try await page.open("http://127.0.0.1:\(port)/", ready: "window.log !== undefined")

        try await page.waitFor("window.log.includes('disconnect ping timeout') && window.log.includes('reconnect_attempt 1')",
                               timeout: .seconds(10), describe: "window.log.join(', ')")
        let log = try await page.string("window.log.join(', ')")
        XCTAssertTrue(log.hasPrefix("connect, disconnect ping timeout, reconnect_attempt 1"), log)
        try await page.waitFor("window.log.includes('reconnect 1')", describe: "window.log.join(', ')")
        XCTAssertGreaterThanOrEqual(connections.load(ordering: .relaxed), 2)
        XCTAssertGreaterThanOrEqual(heartbeats.load(ordering: .relaxed), 1, "the page never asked for a heartbeat")
    }

    func test_parleyJS_staysConnected_whileTheServerAnswersHeartbeats() async throws {
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0, path: "/parley")
        configuration.loopCount = 1
        configuration.pingInterval = .milliseconds(300)
        configuration.pingTimeout = .milliseconds(300)
        configuration.routes["/"] = Self.page
        configuration.routes["/parley.js"] = Server.clientScript
        let io = Server(configuration)
        let port = try io.start()
        addTeardownBlock { await io.close(gracePeriod: .milliseconds(200)) }
        let browser = try await Chromium.launch(for: self)
        let page = try await browser.devTools.newPage()
        try await page.open("http://127.0.0.1:\(port)/", ready: "window.log !== undefined")

        // Five heartbeats asked and answered (each after 300 ms of silence): 1.5 s and more
        // of a connection that only heartbeats keep alive.
        try await page.waitFor("window.sent.filter((e) => e.event === 'heartbeat').length >= 5", timeout: .seconds(10),
                               describe: "window.log.join(', ')")
        let log = try await page.string("window.log.join(', ')")
        XCTAssertEqual(log, "connect")
        let connected = try await page.evaluate("window.socket.connected") as? Bool
        XCTAssertEqual(connected, true)
    }
}
