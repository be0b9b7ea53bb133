import Foundation

/// What built this binary, for manifests and `--version`.
public enum BuildInfo {
    /// `git describe --always --dirty --tags` at build time ("unknown" outside a git checkout).
    public static let codeVersion = generatedCodeVersion

    /// The Swift compiler that built it.
    public static var toolchain: String {
        #if compiler(>=6.3)
        "Swift 6.3+"
        #elseif compiler(>=6.0)
        "Swift 6.x"
        #else
        "Swift 5"
        #endif
    }

    /// CPU model and core count of this machine.
    public static var hardware: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = info.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown CPU"
        return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }
}
