import ArgumentParsing
import Foundation
import RummageTestSupport
import Serving
import Testing

/// [12/19]: the admin token never comes from the command line, an empty or short one is refused at start
/// (an empty `RUMMAGE_ADMIN_TOKEN` once enabled admin and `Bearer ` then authenticated), and it is
/// compared in constant time.
@Suite struct AdminTokenTests {
    @Test func emptyShortAndCommandLineTokensAreRefusedAtStart() throws {
        let dir = Fixtures.temporaryDirectory("rummage-admin-token")
        let serve = ["serve", "--registry", dir + "/registry", "--model", "m", "--log", dir + "/events.sqlite", "--create-log"]
        for (name, content) in [("empty", ""), ("short", "0123456789\n")] {
            let file = Fixtures.write(content, to: name, in: dir)
            let result = rummage(serve + ["--admin-token-file", file])
            #expect(result.code == ExitCode.usage && result.err.contains("must be at least 16 bytes"), "\(name): \(result.err)")
        }
        let onArgv = rummage(serve + ["--admin-token", "a-long-enough-secret-token"])
        #expect(onArgv.code == ExitCode.usage && onArgv.err.contains("admin-token"), "\(onArgv.err)")
    }

    @Test func theBearerTokenIsComparedWholeAndInConstantTime() {
        #expect(AccessPolicy.constantTimeEqual(Array("Bearer 0123456789abcdef".utf8), Array("Bearer 0123456789abcdef".utf8)))
        for wrong in ["", "Bearer ", "Bearer 0123456789abcde", "Bearer 0123456789abcdeg", "Bearer 0123456789abcdef0"] {
            #expect(!AccessPolicy.constantTimeEqual(Array(wrong.utf8), Array("Bearer 0123456789abcdef".utf8)), "\(wrong)")
        }
    }
}
