// swift-tools-version:6.0
import PackageDescription

// Benchmarks for Parley, kept out of the product package: they depend on the root package by
// path, so they build against the working tree, and a user of Parley never fetches them.
// The package name is given explicitly: a path dependency otherwise takes its name from the folder.
let package = Package(
    name: "ParleyBenchmarks",
    dependencies: [
        .package(name: "Parley", path: ".."),
    ],
    targets: [
        // ParleyClient under load: window-1 echo round trips, or N clients receiving broadcasts.
        .executableTarget(
            name: "parley-client-bench",
            dependencies: [
                .product(name: "ParleyClient", package: "Parley"),
                .product(name: "ParleyProtocol", package: "Parley"),
                .product(name: "ParleyIO", package: "Parley"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
