import ArgumentParsing
import BuildInfo
import Catalogue
import Serving
import Foundation
import RummageCore
import Synchronization
import Training

/// The `rummage` command-line program: its commands and the process-level glue.
public enum RummageCLI {
    public static let tool: CommandLineTool = {
        var tool = CommandLineTool(
            name: "rummage",
            abstract: "Rummage: recommendations for marketplaces of one-off listings.",
            version: BuildInfo.versionLine,
            commands: [GenerateCommand.self, EvaluateCommand.self, TrainCommand.self, EmbedCommand.self, ExportCommand.self,
                       IngestCommand.self, FeaturesCheckCommand.self, FeaturesTrainingSetCommand.self,
                       BenchIngestCommand.self, PipelineRunCommand.self, PipelineReproduceCommand.self, RegistrySubcommand<RegistryList>.self,
                       RegistrySubcommand<RegistryShow>.self, RegistrySubcommand<RegistryDiff>.self,
                       RegistrySubcommand<RegistryPromote>.self, RegistrySubcommand<RegistryRollback>.self,
                       RegistryExportCommand.self, RegistryImportCommand.self, RegistryPushCommand.self,
                       GateCommand.self, ServeCommand.self, BatchRecommendCommand.self, BatchEmbedCommand.self,
                       BenchIndexCommand.self, BenchServeCommand.self, ReportCommand.self, OnlineRebuildCommand.self, PublishCommand.self,
                       SimulateCommand.self, KeysCreateCommand.self, ConfigCheckCommand.self, ConfigReferenceCommand.self,
                       CompletionCommand.self, ImportCommand.self, ExportModelCommand.self, RunsListCommand.self, RunsCompareCommand.self,
                       RankerTrainCommand.self, ExperimentReportCommand.self, OffPolicyEstimateCommand.self, OffPolicyRankerCommand.self, TuneCommand.self])
        tool.commonOptions = [Settings.configOption]
        tool.configKey = { command, option in Settings.key(command: command, option: option) }
        tool.fallbacks = { command, given in
            try Settings.fallbacks(for: command, given: given, environment: ProcessInfo.processInfo.environment, tool: RummageCLI.tool)
        }
        return tool
    }()

    /// Runs with the process arguments, prints the outcome and exits with its code.
    /// SIGPIPE is ignored: a closed pipe or socket is an error to handle, never a reason to die.
    public static func main() -> Never {
        signal(SIGPIPE, SIG_IGN)
        exit(tool.run(Array(CommandLine.arguments.dropFirst()), output: .process))
    }
}

extension DataError: UserFacingError {
    public var exitCode: Int32 { code == .fileNotFound ? ExitCode.noInput : ExitCode.dataError }
}
extension SchemaError: UserFacingError {}
extension TrainingError: UserFacingError {}
extension SurfaceError: UserFacingError {}

/// One JSON object on one line with sorted keys (slashes escaped only when asked, as Foundation does).
func jsonObjectLine(_ object: [String: Any], escapingSlashes: Bool = false) throws -> String {
    let options: JSONSerialization.WritingOptions = escapingSlashes ? [.sortedKeys] : [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: options), as: UTF8.self)
}

/// A command's lines: results on standard output, progress on standard error unless `quiet`.
struct Console: Sendable {
    let output: CommandOutput
    let quiet: Bool

    func result(_ line: String) { output.standardOutput(line + "\n") }

    func progress(_ line: String) {
        if !quiet { output.standardError(line + "\n") }
    }
}

/// SIGTERM and SIGINT, turned from process death into a request to stop: long-running commands finish
/// what they hold (drain requests, make a batch durable) and exit. Handled on a dispatch queue, never in
/// a C signal handler.
final class StopSignal {
    private final class Flag: Sendable { let value = Atomic<Bool>(false) }
    private let flag = Flag()
    private let semaphore = DispatchSemaphore(value: 0)
    private let sources: [any DispatchSourceSignal]

    init() {
        let flag = self.flag, semaphore = self.semaphore
        sources = [SIGTERM, SIGINT].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                flag.value.store(true, ordering: .relaxed)
                semaphore.signal()
            }
            source.resume()
            return source
        }
    }

    deinit { sources.forEach { $0.cancel() } }

    /// Whether a stop was requested.
    var requested: Bool { flag.value.load(ordering: .relaxed) }

    /// Blocks until a stop is requested.
    func wait() { semaphore.wait() }
}
