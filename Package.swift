// swift-tools-version: 6.0
// Rummage: a recommendation platform for marketplaces of one-off listings.
// Layers (every arrow points down; see docs/architecture.md):
//   5 executables  rummage
//   4 assembly     Serving · RummageCLI
//   3 models       Baselines · MatrixFactorization · TwoTower
//   2 domain       Datasets · Evaluation · Training · Events · Features · Registry · VectorSearch · Reporting
//   1 foundation   RummageCore · LinearAlgebra · ArgumentParsing · Storage · BuildInfo · HTTPServer · RummageClient · Telemetry
//   0 C            CBLAS (OpenBLAS + LAPACKE) · CLZMA (liblzma) · CSQLite · CPostgres (libpq) · CRedis (hiredis) · CCrypto (libcrypto: SHA-256) · CMicroHTTPD (shim) · CRabbitMQ (librabbitmq shim)
import PackageDescription

let package = Package(
    name: "Rummage",
    products: [
        .executable(name: "rummage", targets: ["rummage"]),
        // The Swift client for the serving API, for backend teams (Foundation only).
        .library(name: "RummageClient", targets: ["RummageClient"]),
    ],
    targets: [
        // Layer 0: C libraries from Debian.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CLZMA", path: "Sources/CLZMA", pkgConfig: "liblzma",
                       providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPostgres", path: "Sources/CPostgres", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CRedis", path: "Sources/CRedis", pkgConfig: "hiredis",
                       providers: [.apt(["libhiredis-dev"])]),
        .target(name: "CMicroHTTPD", path: "Sources/CMicroHTTPD", linkerSettings: [.linkedLibrary("microhttpd")]),
        .target(name: "CRabbitMQ", path: "Sources/CRabbitMQ", linkerSettings: [.linkedLibrary("rabbitmq")]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),

        // Layer 1: foundation.
        .target(name: "RummageCore", dependencies: ["CLZMA", "CCrypto"]),
        .target(name: "LinearAlgebra", dependencies: ["CBLAS"]),
        .target(name: "ArgumentParsing"),
        .target(name: "BuildInfo", plugins: ["CodeVersionPlugin"]),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD"]),
        .plugin(name: "CodeVersionPlugin", capability: .buildTool()),
        .target(name: "Storage", dependencies: ["CSQLite", "CPostgres", "CRedis", "CRabbitMQ"]),
        .target(name: "RummageAPI"),
        .target(name: "RummageClient", dependencies: ["RummageAPI"]),
        .target(name: "Telemetry", dependencies: ["RummageCore"]),

        // Layer 2: domain.
        .target(name: "Evaluation", dependencies: ["RummageCore", "LinearAlgebra"]),
        .target(name: "Datasets", dependencies: ["RummageCore", "Evaluation"]),
        .target(name: "Training", dependencies: ["RummageCore", "LinearAlgebra"]),
        .target(name: "Events", dependencies: ["RummageAPI", "RummageCore", "Storage"]),
        .target(name: "Features", dependencies: ["RummageCore", "Events", "Storage"]),
        .target(name: "Registry", dependencies: ["RummageCore"]),
        .target(name: "VectorSearch", dependencies: ["RummageCore", "LinearAlgebra"]),
        .target(name: "Reporting"),

        // Layer 3: models.
        .target(name: "Baselines", dependencies: ["RummageCore", "LinearAlgebra", "Training"]),
        .target(name: "MatrixFactorization", dependencies: ["RummageCore", "LinearAlgebra", "Training"]),
        .target(name: "TwoTower", dependencies: ["RummageCore", "LinearAlgebra", "Training"]),

        // Layer 4: assembly.
        .target(name: "Serving",
                dependencies: ["Datasets", "Events", "Features", "Registry", "Reporting", "RummageAPI", "RummageCore", "Storage", "Telemetry", "Training", "TwoTower",
                               "VectorSearch",
                               "LinearAlgebra", "HTTPServer"]),
        .target(name: "RummageCLI",
                dependencies: ["RummageCore", "ArgumentParsing", "Datasets", "Evaluation", "Training", "Baselines",
                               "MatrixFactorization", "TwoTower", "LinearAlgebra", "Events", "Storage", "Features", "Registry", "BuildInfo", "VectorSearch", "Serving", "HTTPServer", "RummageAPI", "RummageClient", "Reporting", "Telemetry"]),

        // Layer 5: executables.
        .executableTarget(name: "rummage", dependencies: ["RummageCLI"]),

        // Tests.
        .target(name: "RummageTestSupport", dependencies: ["RummageCore", "RummageClient", "HTTPServer", "Storage"], path: "Tests/RummageTestSupport"),
        .testTarget(name: "RummageCoreTests", dependencies: ["RummageCore", "RummageTestSupport"]),
        .testTarget(name: "LinearAlgebraTests", dependencies: ["LinearAlgebra", "RummageTestSupport"]),
        .testTarget(name: "ArgumentParsingTests", dependencies: ["ArgumentParsing"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "DatasetsTests",
                    dependencies: ["Datasets", "Evaluation", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "BaselinesTests",
                    dependencies: ["Baselines", "Training", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "LinearAlgebra", "RummageCore"]),
        .testTarget(name: "MatrixFactorizationTests",
                    dependencies: ["MatrixFactorization", "Training", "LinearAlgebra", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "TwoTowerTests",
                    dependencies: ["TwoTower", "Training", "LinearAlgebra", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "RummageAPITests", dependencies: ["RummageAPI"]),
        .testTarget(name: "EventsTests", dependencies: ["Events", "Storage", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "FeaturesTests", dependencies: ["Features", "Events", "Storage", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "VectorSearchTests",
                    dependencies: ["VectorSearch", "LinearAlgebra", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "RummageTestSupport"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "RummageTestSupport"]),
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "RummageCLITests",
                    dependencies: ["RummageCLI", "ArgumentParsing", "Datasets", "Training", "Events", "Storage", "RummageCore",
                                   "Registry", "Serving", "HTTPServer", "VectorSearch", "RummageAPI", "RummageClient", "RummageTestSupport"]),
    ]
)
