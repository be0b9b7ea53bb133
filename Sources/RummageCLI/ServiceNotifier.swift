import CSystemd

/// Tells systemd (a `Type=notify` unit, through `$NOTIFY_SOCKET`) how a long-running command is doing:
/// ready once it serves or consumes, stopping when it drains. Outside systemd these do nothing.
enum ServiceNotifier {
    /// The command is ready: `systemctl start` returns and dependent units start. `status` shows in
    /// `systemctl status`.
    static func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }

    /// The command is stopping (draining in-flight work).
    static func stopping() { notify("STOPPING=1\nSTATUS=stopping: draining in-flight work") }

    private static func notify(_ state: String) { _ = sd_notify(0, state) }
}
