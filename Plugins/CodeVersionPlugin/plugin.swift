import Foundation
import PackagePlugin

/// Bakes the code version (`git describe --always --dirty`, or "unknown" outside a git checkout) into
/// the BuildInfo module at every build. The generated file is rewritten only when the version changes,
/// so unchanged builds do not recompile.
@main
struct CodeVersionPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("CodeVersion")
        let file = output.appendingPathComponent("CodeVersion.swift").path
        let package = context.package.directoryURL.path
        let script = """
            mkdir -p '\(output.path)'
            v=$(git -C '\(package)' describe --always --dirty --tags 2>/dev/null || echo unknown)
            text="/// Generated at build time by CodeVersionPlugin.
            let generatedCodeVersion = \\"$v\\""
            [ "$(cat '\(file)' 2>/dev/null)" = "$text" ] || printf '%s' "$text" > '\(file)'
            """
        return [.prebuildCommand(displayName: "Code version", executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: ["-c", script], outputFilesDirectory: output)]
    }
}
