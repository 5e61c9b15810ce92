// swift-tools-version: 6.1
import PackageDescription

/// The short commit the binary is built from, served as `rev`. `EPOCH_REV` wins (the Makefile and
/// the Dockerfile set it; a changed value also makes SwiftPM re-read this manifest), then the
/// checkout's own commit, then "unknown" outside git.
let buildRevision: String = {
    if let rev = Context.environment["EPOCH_REV"], !rev.isEmpty { return rev }
    if let commit = Context.gitInformation?.currentCommit { return String(commit.prefix(7)) }
    return "unknown"
}()
let buildVersion = Context.environment["EPOCH_VERSION"].flatMap { $0.isEmpty ? nil : $0 } ?? "0.1.0"

// Linux only (no `platforms:`): the shipped code imports FoundationEssentials and Glibc/Musl
// unconditionally, and the release binary is a static Linux executable for a scratch image.
let package = Package(
    name: "swift-microepoch",
    // The executable is what ships. The two libraries are for a Swift service that checks its own
    // clock at start-up, or keeps checking it: EpochClient measures a clock against epoch, Roughtime
    // and NTP sources; EpochCore holds the maths, codecs and the rules (ClockCheck). Their `public`
    // API is documented in their DocC catalogs. EpochServer is no product: its API is `package`.
    products: [
        .executable(name: "epoch", targets: ["epoch"]),
        .library(name: "EpochClient", targets: ["EpochClient"]),
        .library(name: "EpochCore", targets: ["EpochCore"]),
    ],
    traits: [
        .trait(
            name: "TLS",
            description: "https:// sources for sync, check and watch, through swift-nio-ssl. make release and "
                + "the image build without it; the server links swift-nio-ssl anyway, for NTS-KE (RFC 8915)."),
        .default(enabledTraits: ["TLS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-structured-headers", from: "1.7.0"),
    ],
    targets: [
        .target(
            name: "CEpochBuildInfo",
            cSettings: [
                .define("EPOCH_REV", to: "\"\(buildRevision)\""),
                .define("EPOCH_VERSION", to: "\"\(buildVersion)\""),
            ]
        ),
        .target(name: "CEpochTimex"),
        .target(name: "CEpochAffinity"),
        .target(
            name: "EpochCore",
            dependencies: [
                "CEpochTimex",
                .product(name: "Crypto", package: "swift-crypto"),
                // AES.CMAC and AES._CTR, which NTS's AES-SIV-CMAC (RFC 5297) is composed of.
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "EpochServer",
            dependencies: [
                "EpochCore",
                "CEpochAffinity",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                // NTS-KE (RFC 8915 §4) is TLS 1.3: the server needs TLS whatever the TLS trait says.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
            ],
            // The page for browsers, compiled in as bytes (PackageResources.page_html): no Bundle,
            // no Foundation, no file at run time (issue 25).
            resources: [.embedInCode("HTTP/Page/page.html")]
        ),
        .target(
            name: "EpochClient",
            dependencies: [
                "EpochCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl", condition: .when(traits: ["TLS"])),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "epoch",
            dependencies: [
                "CEpochBuildInfo",
                "EpochCore",
                "EpochServer",
                "EpochClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The release link (docs/benchmark.md, issue 10): lld; identical code folding of
            // functions whose address is never taken; no unwind tables (tools/no-unwind-tables.ld
            // says why); the functions serve runs to idle first, together (scripts/link-order says
            // why). make release puts every function in its own section on its command line.
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "--icf=safe",
                        "-Xlinker", "-T", "-Xlinker", "\(Context.packageDirectory)/tools/no-unwind-tables.ld",
                        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/tools/link-order.txt",
                        "-Xlinker", "--no-warn-symbol-ordering",
                    ], .when(platforms: [.linux], configuration: .release))
            ]
        ),
        .testTarget(
            name: "EpochCoreTests", dependencies: ["EpochCore", .product(name: "Crypto", package: "swift-crypto")]),
        // The in-process servers and raw connections the server's and the client's tests share.
        .target(
            name: "EpochTestSupport",
            dependencies: [
                "EpochServer",
                "EpochClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/EpochTestSupport"
        ),
        .testTarget(
            name: "EpochServerTests",
            dependencies: [
                "EpochCore",
                "EpochServer",
                "EpochClient",
                "EpochTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "EpochClientTests",
            dependencies: [
                "EpochCore",
                "EpochClient",
                "EpochServer",
                "EpochTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ]
)

// libFuzzer targets (mk/fuzz.mk, docs/reliability.md): only when the Makefile names them in
// EPOCH_FUZZ_TARGETS, so they stay out of the shipped product and of the usual `swift build` and
// `swift test`. Each name is a folder Tests/Fuzz/<name> with a main.swift; adding a target is adding
// that folder (mk/fuzz.mk lists the folders). They are built in the AddressSanitizer scratch path,
// with coverage for every module, and linked with libFuzzer here. EPOCH_FUZZ_PLANTED_BUG=1 compiles
// each target's planted bug, the control that the fuzzer must find.
let fuzzTargetNames = (Context.environment["EPOCH_FUZZ_TARGETS"] ?? "").split(separator: " ").map(String.init)
if !fuzzTargetNames.isEmpty {
    let plantedBug = Context.environment["EPOCH_FUZZ_PLANTED_BUG"] == "1"
    // The ASan tree is a release build, where SwiftPM compiles for testing only in `swift test`
    // (which would then rebuild every module): the modules the tests `@testable import` are
    // compiled for testing here, so that `swift build --build-tests` builds what `swift test
    // --skip-build` runs.
    for target in package.targets where ["EpochCore", "EpochServer", "EpochClient"].contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-enable-testing"])]
    }
    // This tree's `epoch` is linked as a debug build is: the release link's script drops the unwind
    // tables, which AddressSanitizer's reports walk.
    for target in package.targets where target.name == "epoch" {
        target.linkerSettings = []
    }
    package.targets.append(
        .target(
            name: "EpochFuzzSupport",
            dependencies: [
                "EpochCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Tests/Fuzz/Support"))
    for name in fuzzTargetNames {
        package.targets.append(
            .executableTarget(
                name: "fuzz-\(name)",
                dependencies: [
                    "EpochFuzzSupport", "EpochCore", "EpochServer", "EpochClient",
                    .product(name: "Logging", package: "swift-log"),
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "NIOEmbedded", package: "swift-nio"),
                    .product(name: "NIOHTTP1", package: "swift-nio"),
                    .product(name: "NIOTLS", package: "swift-nio"),
                    .product(name: "Prometheus", package: "swift-prometheus"),
                    .product(name: "Crypto", package: "swift-crypto"),
                ],
                path: "Tests/Fuzz/\(name)",
                swiftSettings: plantedBug ? [.define("EPOCH_FUZZ_PLANTED_BUG")] : [],
                // libFuzzer's main is linked whole; lld, because gold fails on these objects'
                // debug information ("internal error in format_file_lineno").
                linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]))
    }
}
