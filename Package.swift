// swift-tools-version:6.0
import PackageDescription

// Parley has no package dependencies: only the toolchain and the small C shim below.
let package = Package(
    name: "Parley",
    products: [
        .library(name: "ParleyWebSocket", targets: ["ParleyWebSocket"]),
        .executable(name: "parley-server", targets: ["parley-server"]),
    ],
    dependencies: [],
    targets: [
        // epoll, eventfd and accept4: Linux headers that Glibc's module does not expose.
        .target(name: "CParleySystem"),
        .target(name: "ParleyWebSocket", dependencies: ["CParleySystem"]),
        .executableTarget(name: "parley-server", dependencies: ["ParleyWebSocket"]),
        // Drives the Autobahn|Testsuite fuzzing server with the ParleyWebSocket client.
        .executableTarget(name: "parley-autobahn-client", dependencies: ["ParleyWebSocket"]),
        // Examples: small programs that show the libraries in use.
        .executableTarget(name: "parley-echo-client", dependencies: ["ParleyWebSocket"], path: "Examples/EchoClient"),
        .testTarget(name: "ParleyWebSocketTests", dependencies: ["ParleyWebSocket", "CParleySystem"]),
    ],
    swiftLanguageModes: [.v6]
)
