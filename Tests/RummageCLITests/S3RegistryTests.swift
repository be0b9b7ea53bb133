import ArgumentParsing
import Foundation
import RummageCore
import RummageTestSupport
import Synchronization
import Testing

/// [14/19] acceptance: a registry shared through S3 (moto's server on loopback). Versions trained on one
/// machine are pushed; two replicas on two "machines" (their own directories, caches and processes) serve
/// from the bucket; an alias moved in S3 is served by both within their poll interval, with no failed request.
@Suite(.serialized) struct S3RegistryTests {
    @Test func replicasOnTwoMachinesFollowAnAliasMovedInS3() throws {
        let dir = Fixtures.temporaryDirectory("rummage-s3-registry")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s3 = try TestS3(bucket: "models")
        let bucket = "s3://models/rummage"
        // The training machine: v1 (champion) and v2 (registered under another alias).
        SecurityTests.deploy(dir: dir, log: dir + "/events.sqlite")
        let second = Fixtures.write("""
            {"model": "mp", "registry": "\(dir)/registry", "alias": "staging", "data": {"dataset": "synthetic:\(dir)/data"},
             "train": {"kind": "two-tower", "settings": {"content": "true", "epochs": "1"}, "seed": 2},
             "gate": {"absolute": {}, "relative": {}}}
            """, to: "second.json", in: dir)
        #expect(rummage("pipeline", "run", "--pipeline", second, "--quiet").code == 0)
        let pushed = try ConfigurationFileTests.child(["registry", "push", "--registry", dir + "/registry", "--to", bucket, "--model", "mp",
                                                       "--aliases", "--json"], environment: s3.environment)
        #expect(pushed.code == 0, "\(pushed.err)")
        let push = try lastJSONLine(pushed.out)
        #expect(push["uploaded"] as? [Int] == [1, 2] && (push["aliases_moved"] as? [String: Int]) == ["champion": 1, "staging": 2], "\(push)")
        let again = try ConfigurationFileTests.child(["registry", "push", "--registry", dir + "/registry", "--to", bucket, "--model", "mp",
                                                      "--json"], environment: s3.environment)
        #expect(try lastJSONLine(again.out)["already_there"] as? [Int] == [1, 2], "versions are immutable: a second push uploads nothing")

        // Two serving machines, each with its own log copy and registry cache.
        var replicas: [SecurityTests.Server] = []
        for machine in ["a", "b"] {
            let home = dir + "/machine-" + machine
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: dir + "/events.sqlite", toPath: home + "/events.sqlite")
            replicas.append(try SecurityTests.Server(["--registry", bucket, "--model", "mp", "--log", home + "/events.sqlite"],
                                                     environment: s3.environment.merging(["RUMMAGE_REGISTRY_CACHE": home + "/registry-cache"]) { a, _ in a },
                                                     dir: dir, pollSeconds: 1))
        }
        defer { replicas.forEach { $0.stop() } }
        func servedVersion(_ replica: SecurityTests.Server) -> Int? {
            let reply = HTTPClient.send("GET", "/readyz", port: replica.port)
            let object = (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8))) as? [String: Any]
            return object?["model_version"] as? Int
        }
        #expect(replicas.map(servedVersion) == [1, 1])

        // Clients on both replicas throughout; the alias moves in S3.
        let failures = Atomic<Int>(0), answers = Atomic<Int>(0), running = Atomic<Bool>(true)
        let group = DispatchGroup()
        for replica in replicas {
            let port = replica.port
            DispatchQueue.global().async(group: group) {
                var user = 0
                while running.load(ordering: .relaxed) {
                    let reply = HTTPClient.send("GET", "/v1/users/u\(user % 300)/recommendations?k=10", port: port)
                    if reply.status != 200 { failures.add(1, ordering: .relaxed) }
                    answers.add(1, ordering: .relaxed)
                    user += 1
                }
            }
        }
        let promoted = try ConfigurationFileTests.child(["registry", "promote", "--registry", bucket, "--model", "mp", "--version", "2"],
                                                        environment: s3.environment.merging(["RUMMAGE_REGISTRY_CACHE": dir + "/ops-cache"]) { a, _ in a })
        #expect(promoted.code == 0 && promoted.out.contains("champion → v2"), "\(promoted.err)")
        let moved = Stopwatch()
        while replicas.map(servedVersion) != [2, 2] && moved.elapsedSeconds < 10 { usleep(100_000) }
        let seconds = moved.elapsedSeconds
        running.store(false, ordering: .relaxed)
        group.wait()
        print("S3 registry: champion moved in the bucket; both replicas served v2 after \(String(format: "%.2f", seconds)) s "
              + "(poll 1 s); \(answers.load(ordering: .relaxed)) answers, \(failures.load(ordering: .relaxed)) failed")
        #expect(replicas.map(servedVersion) == [2, 2])
        #expect(seconds <= 3, "both replicas serve the new version within their poll interval and a pull: \(seconds) s")
        #expect(failures.load(ordering: .relaxed) == 0)
        // The move is in the bucket's history: a rollback there takes both back.
        let rolled = try ConfigurationFileTests.child(["registry", "rollback", "--registry", bucket, "--model", "mp"],
                                                      environment: s3.environment.merging(["RUMMAGE_REGISTRY_CACHE": dir + "/ops-cache"]) { a, _ in a })
        #expect(rolled.code == 0 && rolled.out.contains("champion → v1"), "\(rolled.err)")
    }
}
