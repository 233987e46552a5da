// swift-tools-version:5.9
// The Swift package `Usher`: UniFFI-generated bindings (Sources/Usher/Usher.swift,
// Sources/UsherFFI) over the Rust library `usher_swift`, plus a small hand-written
// layer. Build the Rust library first (see README.md); USHER_RUST_LIB_DIR says
// where it is (default: the workspace's target/debug).
import Foundation
import PackageDescription

let rustLibDir = ProcessInfo.processInfo.environment["USHER_RUST_LIB_DIR"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../target/debug").standardized.path

let package = Package(
    name: "Usher",
    platforms: [.macOS(.v13), .iOS(.v16)],
    products: [
        .library(name: "Usher", targets: ["Usher"]),
    ],
    targets: [
        // The C declarations of the FFI (generated header + modulemap).
        .systemLibrary(name: "UsherFFI", path: "Sources/UsherFFI"),
        .target(
            name: "Usher",
            dependencies: ["UsherFFI"],
            path: "Sources/Usher",
            linkerSettings: [
                .linkedLibrary("usher_swift"),
                // Local development only: SwiftPM accepts unsafe flags in a root package.
                .unsafeFlags(["-L", rustLibDir, "-Xlinker", "-rpath", "-Xlinker", rustLibDir]),
            ]
        ),
        .testTarget(name: "UsherTests", dependencies: ["Usher"], path: "Tests/UsherTests"),
    ]
)
