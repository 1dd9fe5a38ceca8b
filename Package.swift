// swift-tools-version:6.2
import PackageDescription

/// Strictness applied to every Swift target: explicit `any`, imports that must be named where used,
/// and imports internal unless a type crosses a module's public API.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
/// The three programs are thin: options, one call into a library, output.
let commandDependencies: [Target.Dependency] = [
    "TresorCommandLine", "TresorEngine", "TresorKeys", "TresorCore", "TresorChunkStore", "TresorCompression", argumentParser,
]

let package = Package(
    name: "tresor",
    products: [
        .executable(name: "tresor-vault", targets: ["TresorVaultCommand"]),
        .executable(name: "tresor", targets: ["TresorCommand"]),
        .executable(name: "tresor-restore", targets: ["TresorRestoreCommand"]),
        .executable(name: "tresor-diskgen", targets: ["TresorDiskImageGen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // The HTTP/1 codec pieces, to build the server's connection pipeline with a bounded inbound buffer.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Layer 0: system libraries, reached through pkg-config. Tools/install-deps.sh installs them.
        .systemLibrary(name: "CLibcrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // Linux calls Glibc's module map leaves out (syncfs, block-device ioctls).
        .target(name: "CTresorSystem"),

        // Layer 1: wrappers and vocabulary.
        .target(name: "TresorCrypto", dependencies: ["CLibcrypto"], swiftSettings: strict),
        .target(name: "TresorCompression", dependencies: ["CZstd"], swiftSettings: strict),
        .target(name: "TresorCore", dependencies: ["CTresorSystem"], swiftSettings: strict),

        // Layer 2: keys, storage and catalog.
        .target(name: "TresorKeys", dependencies: ["TresorCore", "TresorCrypto"], swiftSettings: strict),
        .target(name: "TresorChunkStore", dependencies: ["TresorCore", "CTresorSystem"], swiftSettings: strict),
        .target(
            name: "TresorCatalog",
            dependencies: ["TresorCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),

        // Layer 3: the engine sees storage only through TresorCore's protocols.
        .target(
            name: "TresorEngine",
            dependencies: ["TresorCore", "TresorKeys", "TresorCrypto", "TresorCompression", "CTresorSystem"],
            swiftSettings: strict
        ),

        // Layer 2: the guest's partition tables and file systems, parsed as untrusted input (file-level restore).
        .target(name: "TresorFileSystems", dependencies: ["TresorCore"], swiftSettings: strict),

        // Layer 3: instant restore's NBD export of a recovery point (and its copy-on-write overlay).
        .target(name: "TresorExport", dependencies: ["TresorEngine", "TresorCore"], swiftSettings: strict),

        // Layer 3: the agent's snapshots (QMP, reflink, freeze, consistency scripts, the snapshot tier).
        .target(name: "TresorSnapshot", dependencies: ["TresorCore", "CTresorSystem"], swiftSettings: strict),

        // Layer 4: the vault over HTTP. The server runs VaultService behind tokens; the client gives the
        // engine the same protocols (BackupDestination, ObjectStore, Catalog) over the wire.
        .target(
            name: "TresorServer",
            dependencies: [
                "TresorEngine", "TresorCore", "TresorCrypto", "TresorChunkStore", "TresorCatalog",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // Alerts are posted to the operator's webhook.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TresorRemote",
            dependencies: [
                "TresorCore", "TresorCrypto", "TresorEngine",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),

        // Layer 5: what the three programs share.
        .target(
            name: "TresorCommandLine",
            dependencies: ["TresorEngine", "TresorChunkStore", "TresorCatalog", "TresorKeys", "TresorRemote", "TresorSnapshot",
                           argumentParser],
            swiftSettings: strict
        ),

        // Layer 6: thin executables.
        .executableTarget(name: "TresorVaultCommand", dependencies: commandDependencies + ["TresorServer", "TresorCatalog", "TresorRemote"],
                          swiftSettings: strict),
        .executableTarget(name: "TresorCommand", dependencies: commandDependencies + ["TresorRemote"],
                          swiftSettings: strict),
        .executableTarget(name: "TresorRestoreCommand", dependencies: commandDependencies + ["TresorSnapshot", "TresorExport", "TresorFileSystems"],
                          swiftSettings: strict),
        .executableTarget(name: "TresorDiskImageGen", dependencies: ["TresorEngine", argumentParser],
                          path: "Tools/DiskImageGen", swiftSettings: strict),

        // Tests.
        .target(
            name: "TresorTestSupport",
            dependencies: ["TresorCore", "TresorCrypto", "TresorKeys", "TresorEngine", "TresorChunkStore",
                           "TresorCatalog", "TresorCommandLine"],
            path: "Tests/TresorTestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "TresorCryptoTests", dependencies: ["TresorCrypto", "TresorTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "TresorCoreTests", dependencies: ["TresorCore", "TresorCompression", "TresorTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "TresorKeysTests", dependencies: ["TresorKeys", "TresorTestSupport"],
                    swiftSettings: strict),
        .testTarget(
            name: "TresorEngineTests",
            dependencies: ["TresorEngine", "TresorChunkStore", "TresorCatalog", "TresorKeys", "TresorCrypto", "TresorCore",
                           "TresorTestSupport"],
            swiftSettings: strict
        ),
        // Real snapshot providers: a loop-mounted XFS, a frozen ext4, a QEMU VM under KVM (Tools/install-deps.sh).
        .testTarget(name: "TresorSnapshotTests", dependencies: ["TresorSnapshot", "TresorCore", "TresorEngine", "TresorTestSupport"],
                    swiftSettings: strict),
        // Partition tables and guest file systems made by Debian's tools (sfdisk, mkfs.ext4 -d), damaged and fuzzed.
        .testTarget(name: "TresorFileSystemsTests", dependencies: ["TresorFileSystems", "TresorCore", "TresorTestSupport"],
                    swiftSettings: strict),
        // Runs the built programs as subprocesses: exit codes, --json, SIGKILL mid-backup, a full disk.
        .testTarget(name: "TresorEndToEndTests", dependencies: ["TresorTestSupport", "TresorChunkStore", "TresorCore", "TresorRemote"],
                    swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
