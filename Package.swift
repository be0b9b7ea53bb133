// swift-tools-version: 6.0
// Rummage: a recommendation platform for marketplaces of one-off listings.
// Layers (every arrow points down; the table in docs/architecture.md is checked by scripts/check-layers):
//   6 executables  rummage
//   5 interface    RummageCLI
//   4 assembly     Pipeline · Serving · BenchmarkHarness
//   3 models       Baselines · MatrixFactorization · TwoTower · Ranking · Backends (drivers by location) · Simulation
//   2 domain       Datasets · Evaluation · Training · Events · Features · Registry · VectorSearch · Reporting · Experiments · RummageClient
//   1 foundation   RummageCore · LinearAlgebra · ArgumentParsing · Storage · BuildInfo · HTTPServer · RummageAPI · Catalogue · Telemetry
//   0 C            CBLAS (OpenBLAS + LAPACKE) · CLZMA (liblzma) · CSQLite · CPostgres (libpq) · CRedis (hiredis) · CCrypto (libcrypto: SHA-256) · CMicroHTTPD (shim) · CRabbitMQ (librabbitmq shim) · CKafka (librdkafka shim) · CYAML (libyaml) · CSystemd (libsystemd: sd_notify) · CXGBoost (libxgboost) · CVectorKernels · CTreeKernels (kernels in C)
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
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
                       providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CXGBoost", path: "Sources/CXGBoost", pkgConfig: "xgboost",
                       providers: [.apt(["libxgboost-dev"])]),
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
        .target(name: "CKafka", path: "Sources/CKafka", linkerSettings: [.linkedLibrary("rdkafka")]),
        .target(name: "CVectorKernels", path: "Sources/CVectorKernels"),
        .target(name: "CTreeKernels", path: "Sources/CTreeKernels"),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),

        // Layer 1: foundation.
        .target(name: "RummageCore", dependencies: ["CLZMA", "CCrypto", "CVectorKernels"]),
        .target(name: "LinearAlgebra", dependencies: ["CBLAS"]),
        // Command lines and configuration files (YAML through libyaml).
        .target(name: "ArgumentParsing", dependencies: ["CYAML"]),
        .target(name: "BuildInfo", plugins: ["CodeVersionPlugin"]),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD"]),
        .plugin(name: "CodeVersionPlugin", capability: .buildTool()),
        .target(name: "Storage", dependencies: ["CSQLite", "CPostgres", "CRedis", "CRabbitMQ", "CKafka", "CCrypto"]),
        // The JSON wire types of the serving API and of events (Foundation only).
        .target(name: "RummageAPI"),
        // A marketplace's declared catalogue: typed listing and user fields, derived fields, tokens (Foundation only).
        .target(name: "Catalogue"),
        .target(name: "Telemetry"),

        // Layer 2: domain.
        .target(name: "Evaluation", dependencies: ["RummageCore", "LinearAlgebra"]),
        .target(name: "Datasets", dependencies: ["Catalogue", "Events", "RummageCore", "Evaluation"]),
        .target(name: "Training", dependencies: ["RummageCore", "LinearAlgebra"]),
        .target(name: "Events", dependencies: ["Catalogue", "RummageAPI", "RummageCore", "Storage"]),
        .target(name: "Features", dependencies: ["CVectorKernels", "RummageCore", "Events", "Storage"]),
        .target(name: "Registry", dependencies: ["Catalogue", "RummageCore", "LinearAlgebra", "Storage", "Training", "VectorSearch"]),
        .target(name: "VectorSearch", dependencies: ["CVectorKernels", "RummageCore", "LinearAlgebra"]),
        .target(name: "Reporting"),
        .target(name: "Experiments", dependencies: ["Events", "Reporting", "RummageCore"]),
        // The Swift client for the serving API, for backend teams (Foundation + RummageAPI).
        .target(name: "RummageClient", dependencies: ["RummageAPI"]),

        // Layer 3: models.
        .target(name: "Baselines", dependencies: ["RummageCore", "LinearAlgebra", "Training"]),
        // Item–item closed forms and filters (EASE).
        .target(name: "LinearModels", dependencies: ["LinearAlgebra", "RummageCore", "Training"]),
        .target(name: "MatrixFactorization", dependencies: ["RummageCore", "LinearAlgebra", "Training"]),
        .target(name: "TwoTower", dependencies: ["RummageCore", "LinearAlgebra", "Training"]),
        .target(name: "Ranking", dependencies: ["CXGBoost", "CTreeKernels", "RummageCore"]),
        // Generated users played against a live server through the HTTP API (rummage simulate).
        .target(name: "Simulation", dependencies: ["Datasets", "RummageAPI", "RummageClient", "RummageCore"]),
        // Every backend a location names: event logs, the online store, precomputed lists.
        .target(name: "Backends", dependencies: ["Events", "Features", "RummageAPI", "RummageCore", "Storage"]),

        // Layer 4: assembly.
        .target(name: "Pipeline",
                dependencies: ["ArgumentParsing", "Backends", "Baselines", "BuildInfo", "Catalogue", "Datasets", "Evaluation", "Events", "Experiments", "Features", "LinearAlgebra", "LinearModels", "MatrixFactorization",
                               "Ranking", "Registry", "Reporting", "RummageCore", "Training", "TwoTower", "VectorSearch"]),
        .target(name: "Serving",
                dependencies: ["Backends", "Catalogue", "Events", "Features", "HTTPServer", "LinearAlgebra", "Registry", "Reporting", "RummageAPI",
                               "Ranking", "RummageCore", "Storage", "Telemetry", "Training", "VectorSearch"]),
        // The load-testing harness (wrk, nginx) behind `rummage bench serve`: not in the product's modules.
        .target(name: "BenchmarkHarness", dependencies: ["HTTPServer", "RummageClient", "RummageCore"]),

        // Layer 5: the command line (argument parsing, printing, exit codes).
        .target(name: "RummageCLI",
                dependencies: ["CSystemd", "ArgumentParsing", "Backends", "BenchmarkHarness", "BuildInfo", "Catalogue", "Datasets", "Simulation", "Evaluation", "Events", "Experiments", "Features", "Ranking",
                               "HTTPServer", "LinearAlgebra", "Pipeline", "Registry", "Reporting", "RummageAPI", "RummageClient", "RummageCore",
                               "Serving", "Storage", "Telemetry", "Training", "TwoTower", "VectorSearch"]),

        // Layer 6: executables.
        .executableTarget(name: "rummage", dependencies: ["RummageCLI"]),

        // Tests.
        .target(name: "RummageTestSupport", dependencies: ["RummageCore", "RummageClient", "HTTPServer", "Storage"], path: "Tests/RummageTestSupport"),
        .testTarget(name: "RummageCoreTests", dependencies: ["RummageCore", "RummageTestSupport"]),
        .testTarget(name: "LinearAlgebraTests", dependencies: ["LinearAlgebra", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "ArgumentParsingTests", dependencies: ["ArgumentParsing"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "DatasetsTests",
                    dependencies: ["Datasets", "Evaluation", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "BaselinesTests",
                    dependencies: ["Baselines", "Training", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "LinearAlgebra", "RummageCore"]),
        .testTarget(name: "MatrixFactorizationTests",
                    dependencies: ["MatrixFactorization", "Training", "LinearAlgebra", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "RankingTests", dependencies: ["Ranking", "RummageCore"]),
        .testTarget(name: "LinearModelsTests", dependencies: ["LinearModels", "LinearAlgebra", "Training", "RummageCore"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Events", "Experiments", "RummageCore"]),
        .testTarget(name: "TwoTowerTests",
                    dependencies: ["TwoTower", "Training", "LinearAlgebra", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "RummageAPITests", dependencies: ["RummageAPI"]),
        .testTarget(name: "CatalogueTests", dependencies: ["Catalogue", "Datasets", "RummageTestSupport"]),
        .testTarget(name: "EventsTests", dependencies: ["Events", "RummageAPI", "Storage", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "FeaturesTests", dependencies: ["Features", "Events", "Storage", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "VectorSearchTests",
                    dependencies: ["VectorSearch", "LinearAlgebra", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "RummageTestSupport"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "RummageTestSupport"]),
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "RummageCore", "RummageTestSupport"]),
        .testTarget(name: "ServingTests",
                    dependencies: ["Serving", "Catalogue", "Events", "HTTPServer", "LinearAlgebra", "MatrixFactorization", "Registry", "RummageAPI",
                                   "RummageClient", "RummageCore", "RummageTestSupport", "Training", "VectorSearch"]),
        .testTarget(name: "RummageCLITests",
                    dependencies: ["RummageCLI", "ArgumentParsing", "Backends", "Datasets", "Evaluation", "LinearAlgebra", "Pipeline", "Simulation", "Training", "Events", "Experiments", "Features", "Storage", "RummageCore",
                                   "Ranking", "Registry", "Serving", "HTTPServer", "VectorSearch", "RummageAPI", "RummageClient", "RummageTestSupport"]),
    ]
)
