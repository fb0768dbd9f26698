import Foundation
import XCTest

/// Protocol.md is enough: a page speaking the envelope with a bare `WebSocket` (no parley.js)
/// against `parley-server` (a child process).
final class EnvelopeBrowserTests: XCTestCase {
    func test_bareWebSocket_getsConnect_echoAck_heartbeatAck_andBroadcast() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1"], for: self)
        let page = try await browser.devTools.newPage()
        // Two WebSockets in one page: the first asks, the second receives the broadcast.
        let script = """
            (async () => {
              const url = "ws://127.0.0.1:\(server.port)/parley";
              const open = () => {
                const ws = new WebSocket(url);
                const inbox = [], waiters = [];
                ws.onmessage = (m) => { const envelope = JSON.parse(m.data); const w = waiters.shift(); if (w) w(envelope); else inbox.push(envelope); };
                ws.next = () => inbox.length ? Promise.resolve(inbox.shift())
                  : new Promise((resolve, reject) => { waiters.push(resolve); setTimeout(() => reject(new Error("no message in 5 s")), 5000); });
                return ws;
              };
              const a = open(), b = open();
              const connectA = await a.next(), connectB = await b.next();
              a.send(JSON.stringify({ event: "echo", data: { hello: "world", n: [1, 2] }, id: 1 }));
              const echo = await a.next();
              a.send(JSON.stringify({ event: "heartbeat", id: 2 }));
              const heartbeat = await a.next();
              a.send(JSON.stringify({ event: "broadcast", data: "hi from a" }));
              const broadcast = await b.next();
              a.close(); b.close();
              return JSON.stringify({ connectA, connectB, echo, heartbeat, broadcast });
            })()
            """
        let json = try await page.string(script)
        struct Connect: Decodable { let event: String; let data: Info }
        struct Info: Decodable { let id: String; let pingInterval: Int; let pingTimeout: Int }
        struct Echoed: Decodable, Equatable { let hello: String; let n: [Int] }
        struct EchoAck: Decodable { let ack: Int; let data: Echoed }
        struct Heartbeat: Decodable { let ack: Int; let data: Int? }
        struct Broadcast: Decodable { let event: String; let data: String }
        struct Result: Decodable { let connectA: Connect; let connectB: Connect; let echo: EchoAck; let heartbeat: Heartbeat; let broadcast: Broadcast }
        let result = try JSONDecoder().decode(Result.self, from: Data(json.utf8))
        XCTAssertEqual(result.connectA.event, "connect")
        XCTAssertEqual(result.connectA.data.id.count, 22)
        XCTAssertNotEqual(result.connectA.data.id, result.connectB.data.id)
        XCTAssertEqual(result.connectA.data.pingInterval, 25000)
        XCTAssertEqual(result.echo.ack, 1)
        XCTAssertEqual(result.echo.data, Echoed(hello: "world", n: [1, 2]))
        XCTAssertEqual(result.heartbeat.ack, 2)
        XCTAssertNil(result.heartbeat.data)
        XCTAssertEqual(result.broadcast.event, "broadcast")
        XCTAssertEqual(result.broadcast.data, "hi from a")
    }

    func test_parleyJS_isServedByParleyServer_andTalksToIt() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1"], for: self)
        let page = try await browser.devTools.newPage()
        // Any page of the server's origin can import the module it serves.
        try await page.open("http://127.0.0.1:\(server.port)/parley/parley.js")
        let script = """
            (async () => {
              const { connect } = await import("/parley/parley.js");
              const socket = connect("/parley");
              await new Promise((resolve, reject) => { socket.on("connect", resolve); setTimeout(() => reject(new Error("no connect")), 5000); });
              const echoed = await socket.emitWithAck("echo", { text: "round trip" }, { timeout: 5000 });
              let refused = "";
              try { socket.emit("heartbeat"); } catch (error) { refused = error.message; }
              socket.disconnect();
              return JSON.stringify({ id: socket.id === undefined, echoed, refused });
            })()
            """
        let json = try await page.string(script)
        XCTAssertEqual(json, #"{"id":true,"echoed":{"text":"round trip"},"refused":"'heartbeat' is a reserved event name"}"#)
    }

    func test_parleyJS_flushesTheOfflineBufferInOrder_beforeConnect() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1"], for: self)
        let page = try await browser.devTools.newPage()
        try await page.open("http://127.0.0.1:\(server.port)/parley/parley.js")
        let script = """
            (async () => {
              const { connect } = await import("/parley/parley.js");
              const socket = connect("/parley", { autoConnect: false });
              const seen = [];
              socket.on("all", (n) => seen.push("all " + n));
              socket.on("connect", () => seen.push("connect"));
              socket.emit("all", 1);
              socket.emit("all", 2);
              const echoed = socket.emitWithAck("echo", 3, { timeout: 5000 }).then((n) => seen.push("ack " + n));
              socket.connect();
              await echoed;
              await new Promise((resolve, reject) => {
                const check = () => seen.length >= 4 ? resolve() : setTimeout(check, 10);
                check(); setTimeout(() => reject(new Error(seen.join())), 5000);
              });
              socket.disconnect();
              return seen.join(", ");
            })()
            """
        // Socket.IO's order: the buffer goes out before `connect` is reported; the server
        // answers in the order sent.
        let seen = try await page.string(script)
        XCTAssertEqual(seen, "connect, all 1, all 2, ack 3")
    }

    func test_parleyJS_offlineBuffer_dropsTheOldest_overItsByteLimit() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1"], for: self)
        let page = try await browser.devTools.newPage()
        try await page.open("http://127.0.0.1:\(server.port)/parley/parley.js")
        // Three emits of 400 KB while offline: 1.2 MB passes the 1 MiB default, so the oldest goes.
        let script = """
            (async () => {
              const { connect } = await import("/parley/parley.js");
              const socket = connect("/parley", { autoConnect: false });
              const big = "x".repeat(400000);
              const acks = [1, 2, 3].map((n) => socket.emitWithAck("echo", { n, big }, { timeout: 5000 })
                .then((data) => "ack " + data.n, (error) => "lost " + n + ": " + error.message));
              socket.connect();
              const results = await Promise.all(acks);
              socket.disconnect();
              return results.join(", ");
            })()
            """
        let results = try await page.string(script)
        XCTAssertEqual(results, "lost 1: dropped from the full offline buffer, ack 2, ack 3")
    }

    func test_parleyJS_doesNotReconnect_afterMiddlewareRefusal() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1", "--token", "secret"], for: self)
        let page = try await browser.devTools.newPage()
        try await page.open("http://127.0.0.1:\(server.port)/parley/parley.js")
        let script = """
            (async () => {
              const { connect } = await import("/parley/parley.js");
              const wrong = connect("/parley", { query: { token: "guess" } });
              const refusal = await new Promise((resolve) => wrong.on("connect_error", resolve));
              const right = connect("/parley", { query: { token: "secret" } });
              await new Promise((resolve) => right.on("connect", resolve));
              right.disconnect();
              return JSON.stringify({ message: refusal.message, active: wrong.active, connected: wrong.connected });
            })()
            """
        let json = try await page.string(script)
        XCTAssertEqual(json, #"{"message":"unauthorized","active":false,"connected":false}"#)
    }

    func test_parleyJS_backoffDelay_hasTheSwiftClientsBands() async throws {
        let browser = try await Chromium.launch(for: self)
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1"], for: self)
        let page = try await browser.devTools.newPage()
        try await page.open("http://127.0.0.1:\(server.port)/parley/parley.js")
        // min(max, initial * 2^attempt * (1 + jitter * (2u - 1))), as Backoff.delay(attempt:unitRandom:).
        let json = try await page.string("""
            import("/parley/parley.js").then(({ backoffDelay }) => {
              const options = { reconnectionDelay: 1000, reconnectionDelayMax: 5000, randomizationFactor: 0.5 };
              return JSON.stringify([[0, 0], [0, 0.5], [0, 0.75], [1, 0], [2, 0.5], [3, 0], [3, 0.5], [80, 0]]
                .map(([attempt, u]) => backoffDelay(attempt, options, u)));
            })
            """)
        XCTAssertEqual(json, "[500,1000,1250,1000,4000,4000,5000,5000]")
    }
}
