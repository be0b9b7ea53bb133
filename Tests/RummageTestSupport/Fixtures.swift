import Foundation
import RummageCore
import Synchronization

/// Known-answer fixtures and helpers shared by the test targets.
public enum Fixtures {
    /// implicit's checkerboard: user `u` interacted with item `i` exactly when `u + i` is even
    /// (every even user liked every even item, every odd user every odd item).
    /// Pairs in `removing` are left out (to hold them out and check they are recovered).
    public static func checkerboard(size: Int, removing: Set<[Int]> = []) -> InteractionMatrix {
        var users: [Int32] = [], items: [Int32] = []
        for u in 0..<size {
            for i in 0..<size where (u + i) % 2 == 0 && !removing.contains([u, i]) {
                users.append(Int32(u)); items.append(Int32(i))
            }
        }
        return InteractionMatrix(userCount: size, itemCount: size, users: users, items: items)
    }

    /// A random binary user × item matrix with about `density` of the pairs set.
    public static func randomInteractions(users: Int, items: Int, density: Double, seed: UInt64) -> InteractionMatrix {
        var rng = SeededGenerator(seed: seed)
        var us: [Int32] = [], its: [Int32] = []
        for u in 0..<users {
            for i in 0..<items where rng.nextDouble() < density {
                us.append(Int32(u)); its.append(Int32(i))
            }
        }
        return InteractionMatrix(userCount: users, itemCount: items, users: us, items: its)
    }

    /// A fresh empty directory under the system temporary directory.
    /// Runs a program to its end: its exit status and what it wrote to standard output and error.
    public static func run(_ path: String, _ arguments: [String]) -> (code: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return (-1, "cannot run \(path)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    public static func temporaryDirectory(_ label: String = "rummage-test") -> String {
        let path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes `text` to `directory/name` and returns the path.
    @discardableResult
    public static func write(_ text: String, to name: String, in directory: String) -> String {
        let path = directory + "/" + name
        try! Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// `|a - b| <= tolerance`.
public func approximatelyEqual(_ a: Double, _ b: Double, tolerance: Double = 1e-9) -> Bool {
    abs(a - b) <= tolerance
}

/// The repository's root folder (this file is Tests/RummageTestSupport/Fixtures.swift inside it).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The shared data sets beside the repository (`../shared/datasets`), or `RUMMAGE_SHARED_DATASETS`.
public enum SharedData {
    /// The root folder, whether or not it exists.
    public static var root: String {
        if let override = ProcessInfo.processInfo.environment["RUMMAGE_SHARED_DATASETS"] { return override }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets").path
    }

    /// The path of `name` under the shared datasets, or nil after printing why the caller skips.
    public static func directory(_ name: String, neededBy test: String) -> String? {
        let path = root + "/" + name
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return path }
        print("SKIP \(test): shared dataset \(path) is not present")
        return nil
    }
}

/// Collects progress lines from a training run (thread-safe).
public final class LineCollector: Sendable {
    private let lines = Mutex<[String]>([])
    public init() {}
    public var add: @Sendable (String) -> Void { { line in self.lines.withLock { $0.append(line) } } }
    public var all: [String] { lines.withLock { $0 } }
}
