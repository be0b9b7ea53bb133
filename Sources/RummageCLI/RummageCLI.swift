import ArgumentParsing
import Foundation
import RummageCore
import Training

/// The `rummage` command-line program: its commands and the process-level glue.
public enum RummageCLI {
    public static let tool = CommandLineTool(
        name: "rummage",
        abstract: "Rummage: recommendations for marketplaces of one-off listings.",
        commands: [GenerateCommand.self, EvaluateCommand.self])

    /// Runs with the process arguments, prints the outcome and exits with its code.
    public static func main() -> Never {
        let outcome = tool.run(Array(CommandLine.arguments.dropFirst()))
        if !outcome.standardOutput.isEmpty { FileHandle.standardOutput.write(Data(outcome.standardOutput.utf8)) }
        if !outcome.standardError.isEmpty { FileHandle.standardError.write(Data(outcome.standardError.utf8)) }
        exit(outcome.exitCode)
    }
}

extension DataError: UserFacingError {}
extension TrainingError: UserFacingError {}

/// Console output for commands: results on stdout, progress on stderr (silenced by `--quiet`).
struct Console: Sendable {
    var quiet: Bool

    func result(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    func progress(_ line: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
