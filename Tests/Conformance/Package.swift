// swift-tools-version:6.0
import PackageDescription

// RFC 6455 conformance drivers, kept out of the product package. `.ci/run` builds them and runs
// them against Autobahn|Testsuite. The package name is given explicitly: a path dependency
// otherwise takes its name from the folder.
let package = Package(
    name: "ParleyConformance",
    dependencies: [
        .package(name: "Parley", path: "../.."),
    ],
    targets: [
        // Drives the Autobahn|Testsuite fuzzing server with the ParleyWebSocket client.
        .executableTarget(
            name: "parley-autobahn-client",
            dependencies: [.product(name: "ParleyWebSocket", package: "Parley")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
