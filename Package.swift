// swift-tools-version:6.0
import PackageDescription

// Parley has no package dependencies: only the toolchain and the small C shim below.
let package = Package(
    name: "Parley",
    // The versions that have Synchronization's Mutex and Atomic. macOS and iOS run the portable
    // poll(2) backend (see IOBackend).
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "Parley", targets: ["Parley"]),
        .library(name: "ParleyProtocol", targets: ["ParleyProtocol"]),
        .library(name: "ParleyWebSocket", targets: ["ParleyWebSocket"]),
        .library(name: "ParleyIO", targets: ["ParleyIO"]),
        .executable(name: "parley-server", targets: ["parley-server"]),
        .library(name: "ParleyClient", targets: ["ParleyClient"]),
        .library(name: "ParleyRedis", targets: ["ParleyRedis"]),
    ],
    dependencies: [],
    targets: [
        // Every system call that differs between systems, behind one small C API with per-OS
        // branches: epoll, eventfd, accept4 on Linux; poll, a self-pipe, accept + fcntl elsewhere.
        .target(name: "CParleySystem"),
        // The I/O runtime: event loops, timers, sockets, TCP streams. Knows nothing of WebSocket.
        .target(name: "ParleyIO", dependencies: ["CParleySystem"]),
        .testTarget(name: "ParleyIOTests", dependencies: ["ParleyIO"]),
        // RFC 6455: the handshake, the frame codec, connections, a server and a client.
        .target(name: "ParleyWebSocket", dependencies: ["ParleyIO"]),
        // The envelope model and codec: pure, no I/O.
        .target(name: "ParleyProtocol"),
        // The Socket.IO-style server: namespaces, sockets, rooms, acks, middleware.
        // Resources/parley.js, the browser client, is compiled in: the server serves those bytes.
        .target(name: "Parley", dependencies: ["ParleyProtocol", "ParleyWebSocket", "ParleyRedis"],
                resources: [.embedInCode("Resources/parley.js")]),
        .executableTarget(name: "parley-server", dependencies: ["Parley", "ParleyWebSocket", "ParleyRedis"]),
        // Drives the Autobahn|Testsuite fuzzing server with the ParleyWebSocket client.
        .executableTarget(name: "parley-autobahn-client", dependencies: ["ParleyWebSocket"]),
        // Examples: small programs that show the libraries in use.
        .executableTarget(name: "parley-echo-client", dependencies: ["ParleyWebSocket"], path: "Examples/EchoClient"),
        .testTarget(name: "ParleyWebSocketTests", dependencies: ["ParleyWebSocket"]),
        .testTarget(name: "ParleyProtocolTests", dependencies: ["ParleyProtocol"]),
        .testTarget(name: "ParleyTests", dependencies: ["Parley", "ParleyProtocol", "ParleyWebSocket", "ParleyRedis", "RedisTestSupport", "TestSupport"]),
        // The Socket.IO-style client: reconnection, offline buffer, acks. Never depends on the server.
        .target(name: "ParleyClient", dependencies: ["ParleyProtocol", "ParleyWebSocket"]),
        .testTarget(name: "ParleyClientTests", dependencies: ["ParleyClient", "Parley", "ParleyProtocol", "ParleyWebSocket", "TestSupport"]),
        .executableTarget(name: "parley-bot", dependencies: ["ParleyClient"], path: "Examples/Bot"),
        .executableTarget(name: "parley-client-bench", dependencies: ["ParleyClient"]),
        // The chat example: `swift run chat-server`, then open http://localhost:8887/.
        .executableTarget(name: "chat-server", dependencies: ["Parley", "ParleyWebSocket"], path: "Examples/Chat",
                          resources: [.embedInCode("Public/index.html"), .embedInCode("Public/chat.css"), .embedInCode("Public/chat.js")]),
        // End to end: headless Chromium against chat-server and parley-server, and parley-bot in
        // the chat, all as child processes (browser tests are skipped without chromium, except
        // under CI). Depends on the executables so that `swift test` builds them.
        .testTarget(name: "EndToEndTests", dependencies: ["Parley", "ParleyWebSocket", "ParleyClient", "chat-server", "parley-server", "parley-bot"]),
        // A RESP2 Redis client on the ParleyWebSocket loops: pub/sub for scale-out across servers.
        .target(name: "ParleyRedis", dependencies: ["ParleyIO"]),
        .testTarget(name: "ParleyRedisTests", dependencies: ["ParleyRedis", "ParleyIO", "RedisTestSupport"]),
        // Starts a throw-away redis-server for the tests (not a product).
        .target(name: "RedisTestSupport", path: "Tests/RedisTestSupport"),
        // The mailbox tests await callbacks with (and a few small helpers), shared by the server
        // and client test targets (not a product).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
    ],
    swiftLanguageModes: [.v6]
)
