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
        .library(name: "ParleyRedisAdapter", targets: ["ParleyRedisAdapter"]),
    ],
    dependencies: [],
    targets: [
        // Every system call that differs between systems, behind one small C API with per-OS
        // branches: epoll, eventfd, accept4 on Linux; poll, a self-pipe, accept + fcntl elsewhere.
        .target(name: "CParleySystem"),
        // OpenSSL loaded at run time (dlopen): no OpenSSL headers or libraries needed to build.
        .target(name: "CParleyTLS", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        // The I/O runtime: event loops, timers, sockets, TCP streams, TLS. Knows nothing of WebSocket.
        .target(name: "ParleyIO", dependencies: ["CParleySystem", "CParleyTLS"]),
        .testTarget(name: "ParleyIOTests", dependencies: ["ParleyIO", "TestSupport"]),
        // RFC 6455: the handshake, the frame codec, connections, a server and a client.
        .target(name: "ParleyWebSocket", dependencies: ["ParleyIO"]),
        // The envelope model and codec: pure, no I/O.
        .target(name: "ParleyProtocol"),
        // The Socket.IO-style server: namespaces, sockets, rooms, acks, middleware, and the
        // cluster adapter protocol (engines are plug-ins: Parley links none).
        // Resources/parley.js (the browser client) and admin.* (the admin dashboard) are compiled in:
        // the server serves those bytes.
        .target(name: "Parley", dependencies: ["ParleyProtocol", "ParleyWebSocket"],
                resources: [.embedInCode("Resources/parley.js"), .embedInCode("Resources/admin.html"),
                            .embedInCode("Resources/admin.js"), .embedInCode("Resources/admin.css")]),
        .executableTarget(name: "parley-server", dependencies: ["Parley", "ParleyWebSocket", "ParleyRedisAdapter"]),
        // libFuzzer targets for every parser of peer bytes (Fuzz/README.md): `Fuzz/run.sh` builds
        // them with the fuzzer flags; a plain build makes a replayer of corpus files.
        .executableTarget(name: "parley-fuzz", dependencies: ["Parley", "ParleyProtocol", "ParleyWebSocket", "ParleyRedis", "ParleyRedisAdapter"],
                          path: "Fuzz/Sources"),
        // Examples: small programs that show the libraries in use.
        .executableTarget(name: "parley-echo-client", dependencies: ["ParleyWebSocket"], path: "Examples/EchoClient"),
        .testTarget(name: "ParleyWebSocketTests", dependencies: ["ParleyWebSocket", "TestSupport"]),
        .testTarget(name: "ParleyProtocolTests", dependencies: ["ParleyProtocol"]),
        // Peers/: python-socketio scripts the Socket.IO tests run (with the Python of PARLEY_PYTHON).
        .testTarget(name: "ParleyTests", dependencies: ["Parley", "ParleyProtocol", "ParleyWebSocket", "ParleyTestSupport", "TestSupport"],
                    exclude: ["Peers"]),
        // The Socket.IO-style client: reconnection, offline buffer, acks. Never depends on the server.
        .target(name: "ParleyClient", dependencies: ["ParleyProtocol", "ParleyWebSocket"]),
        // Peers/: the python-socketio server the Socket.IO mode is tested against, and a Node `ws`
        // and a Python `websockets` peer over TLS (PARLEY_PYTHON for Python).
        .testTarget(name: "ParleyClientTests", dependencies: ["ParleyClient", "Parley", "ParleyProtocol", "ParleyWebSocket", "TestSupport"],
                    exclude: ["Peers"]),
        .executableTarget(name: "parley-bot", dependencies: ["ParleyClient"], path: "Examples/Bot"),
        // The README's quick start, compiled so that it stays true: a server and a client in one process.
        .executableTarget(name: "parley-quickstart", dependencies: ["Parley", "ParleyClient"], path: "Examples/QuickStart"),
        // The chat example: `swift run chat-server`, then open http://localhost:8887/.
        .executableTarget(name: "chat-server", dependencies: ["Parley", "ParleyWebSocket"], path: "Examples/Chat",
                          resources: [.embedInCode("Public/index.html"), .embedInCode("Public/chat.css"), .embedInCode("Public/chat.js")]),
        // End to end: headless Chromium against chat-server and parley-server, and parley-bot in
        // the chat, all as child processes (browser tests are skipped without chromium, except
        // under CI). Depends on the executables so that `swift test` builds them.
        // Peers/: a python-socketio client of the relay (with the Python of PARLEY_PYTHON).
        .testTarget(name: "EndToEndTests", dependencies: ["Parley", "ParleyWebSocket", "ParleyClient", "TestSupport", "RedisTestSupport",
                                                         "chat-server", "parley-server", "parley-bot", "parley-quickstart"],
                    exclude: ["Peers"]),
        // A RESP2 Redis client on the ParleyWebSocket loops: pub/sub for scale-out across servers.
        .target(name: "ParleyRedis", dependencies: ["ParleyIO"]),
        .testTarget(name: "ParleyRedisTests", dependencies: ["ParleyRedis", "ParleyIO", "RedisTestSupport"]),
        // The cluster adapter on Redis pub/sub: servers on one Redis share broadcasts.
        .target(name: "ParleyRedisAdapter", dependencies: ["Parley", "ParleyIO", "ParleyRedis"]),
        .testTarget(name: "ParleyRedisAdapterTests", dependencies: ["ParleyRedisAdapter", "Parley", "ParleyProtocol", "ParleyWebSocket",
                                                                    "ParleyRedis", "ParleyTestSupport", "RedisTestSupport", "TestSupport"]),
        // Starts a throw-away redis-server for the tests (not a product).
        .target(name: "RedisTestSupport", path: "Tests/RedisTestSupport"),
        // The mailbox tests await callbacks with (and a few small helpers), shared by the server
        // and client test targets (not a product).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // Parley servers on a loopback port and envelope clients for them, shared by the server
        // and cluster adapter test targets (not a product).
        .target(name: "ParleyTestSupport", dependencies: ["Parley", "ParleyProtocol", "ParleyWebSocket", "TestSupport"],
                path: "Tests/ParleyTestSupport"),
    ],
    swiftLanguageModes: [.v6]
)
