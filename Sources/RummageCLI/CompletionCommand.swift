import ArgumentParsing

/// `rummage completion --shell bash|zsh`: the shell completion script, generated from the commands'
/// option specs.
struct CompletionCommand: Command {
    static let configuration = CommandConfiguration(
        name: "completion",
        abstract: "Print a shell completion script for rummage.",
        discussion: """
            bash: rummage completion --shell bash > /etc/bash_completion.d/rummage (or source it from ~/.bashrc).
            zsh:  rummage completion --shell zsh > "${fpath[1]}/_rummage", then restart the shell.
            """,
        options: [.value("shell", "SHELL", help: "bash or zsh.", required: true)])

    let shell: String

    init(_ arguments: ParsedArguments) throws {
        shell = try arguments.requiredString("shell")
        guard ["bash", "zsh"].contains(shell) else {
            throw UsageError("--shell must be bash or zsh, got '\(shell)'" + didYouMean(shell, among: ["bash", "zsh"]))
        }
    }

    func run(output: CommandOutput) throws {
        output.standardOutput(shell == "bash" ? RummageCLI.tool.bashCompletion() : RummageCLI.tool.zshCompletion())
    }
}
