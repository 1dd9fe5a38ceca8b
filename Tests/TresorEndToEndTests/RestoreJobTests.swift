import Foundation
import Testing
import TresorTestSupport

/// Restores against a served vault are jobs: listed with their bytes, and cancellable with `tresor job cancel`.
@Suite(.serialized)
struct RestoreJobTests {
    let passphrase = ["TRESOR_PASSPHRASE": "end-to-end passphrase"]

    func token(_ role: String, in dir: TemporaryDirectory) throws -> String {
        try Programs.run("tresor-vault", ["token", "create", "vault", "--role", role], directory: dir.path).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func restoreJobs(_ server: ServedVault, admin: String, in dir: TemporaryDirectory) throws -> [[String: Any]] {
        let listed = try Programs.run("tresor", ["job", "list", "--vault", server.url, "--json"], environment: ["TRESOR_TOKEN": admin], directory: dir.path)
        let jobs = (try? JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]) ?? []
        return jobs.filter { $0["kind"] as? String == "restore" }
    }

    @Test func aServedRestoreIsAJobWithProgressAndCanBeCancelled() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("small.img"), size: 8 << 20, seed: 101)
        try TestImages.write(dir.file("big.img"), size: 768 << 20, seed: 102)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: passphrase, directory: dir.path)
        let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "web", "--disk", "small.img", "--disk", "big.img",
                                                 "--keystore", "keys", "--kek", "main"], environment: passphrase, directory: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")
        let restorer = try token("restore", in: dir)
        let admin = try token("admin", in: dir)
        let server = try ServedVault(directory: dir.file("vault"))
        defer { _ = server.stop() }
        let environment = passphrase.merging(["TRESOR_TOKEN": restorer]) { $1 }

        let small = try Programs.run("tresor-restore", ["disk", "--vault", server.url, "--vm", "web", "--disk", "0", "--output", "small.out",
                                                        "--keystore", "keys", "--kek", "main"], environment: environment, directory: dir.path)
        #expect(small.status == 0, "\(small.stderr)")
        let finished = try restoreJobs(server, admin: admin, in: dir)
        #expect(finished.count == 1)
        #expect(finished.first?["status"] as? String == "completed" && finished.first?["bytesDone"] as? Int == 8 << 20, "\(finished)")
        #expect((finished.first?["message"] as? String)?.contains("disk 0 to small.out") == true)

        let (big, _, err) = try Programs.start("tresor-restore", ["disk", "--vault", server.url, "--vm", "web", "--disk", "1", "--output", "big.out",
                                                                  "--keystore", "keys", "--kek", "main", "--workers", "1"],
                                               environment: environment, directory: dir.path)
        var running: [String: Any]?
        let deadline = Date().addingTimeInterval(30)
        while running == nil, big.isRunning, Date() < deadline {
            running = try restoreJobs(server, admin: admin, in: dir).first { $0["status"] as? String == "in-progress" }
            usleep(50_000)
        }
        let id = try #require(running?["id"] as? String, "the big restore shows as a job in progress")
        let cancel = try Programs.run("tresor", ["job", "cancel", id, "--vault", server.url], environment: ["TRESOR_TOKEN": admin], directory: dir.path)
        #expect(cancel.status == 0, "\(cancel.stderr)")
        big.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(big.terminationStatus != 0 && stderr.contains("error[operation.cancelled]"), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("big.out")), "a cancelled restore leaves no half-written disk")
        let cancelled = try restoreJobs(server, admin: admin, in: dir).first { $0["id"] as? String == id }
        #expect(cancelled?["status"] as? String == "cancelled", "\(cancelled ?? [:])")
        #expect((cancelled?["bytesDone"] as? Int ?? .max) < 768 << 20)
    }
}
