// swift-tools-version:5.9
// Runnable Swift examples of Usher's client control. They use the package in
// ../../bindings-swift as a local (path) dependency, which is what lets its
// linker flags (-L/rpath to the Rust library) apply here too. Build the Rust
// library first: `cargo build -p usher-swift` (see bindings-swift/README.md).
import PackageDescription

let package = Package(
    name: "UsherExamples",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Usher", path: "../../bindings-swift"),
    ],
    targets: [
        .executableTarget(
            name: "ClientControl",
            dependencies: [.product(name: "Usher", package: "Usher")],
            path: "Sources/ClientControl"
        ),
    ]
)
