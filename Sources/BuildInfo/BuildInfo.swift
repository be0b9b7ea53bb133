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

    /// When this executable was built (linked): its file's modification date, `YYYY-MM-DD`.
    public static var buildDate: String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: "/proc/self/exe"),
              let date = attributes[.modificationDate] as? Date else { return "unknown" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: date)
    }

    /// What `--version` prints: `rummage <code version> (<toolchain>, built <date>)`.
    public static var versionLine: String { "rummage \(codeVersion) (\(toolchain), built \(buildDate))" }

    /// CPU model and core count of this machine.
    public static var hardware: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = info.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown CPU"
        return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }
}
