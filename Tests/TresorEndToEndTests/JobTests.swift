import Foundation
import Testing
import TresorCore
import TresorTestSupport

/// Jobs run by a real `tresor agent` against a real `tresor-vault serve`: backup now, its retention and
/// limits, cancelling queued and running jobs, and what an agent token may do.
@Suite(.serialized)
struct JobTests {
    static let passphrase = ["TRESOR_PASSPHRASE": "job passphrase"]

    /// A vault with an x25519 KEK, the agent's write-only key store, tokens, and a host "hv1" with VM "web"
    /// (an OS disk, a data disk and a temporary disk).
    final class Setup {
        let dir = TemporaryDirectory()
        let server: ServedVault
        let admin: String
        let agent: String

        init(bandwidthLimit: String? = nil, serverEnvironment: [String: String] = [:], region: String = "default") throws {
            try TestImages.write(self.dir.file("os.img"), size: 12 << 20, seed: 61)
            try TestImages.write(self.dir.file("data.img"), size: 4 << 20, seed: 62)
            try TestImages.write(self.dir.file("temp.img"), size: 2 << 20, seed: 63)
            #expect(try Programs.run("tresor-vault", ["init", "vault", "--region", region], directory: self.dir.path).status == 0)
            #expect(try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys", "--type", "x25519"],
                                     environment: JobTests.passphrase, directory: self.dir.path).status == 0)
            #expect(try Programs.run("tresor", ["keys", "export-public", "main", "--keystore", "keys", "--output", "agent-keys"],
                                     environment: JobTests.passphrase, directory: self.dir.path).status == 0)
            self.admin = try Self.token(["--role", "admin"], in: self.dir)
            self.agent = try Self.token(["--role", "agent", "--host", "hv1"], in: self.dir)
            let limit = bandwidthLimit.map { #""bandwidthLimit": "\#($0)", "# } ?? ""
            let config = """
                {"host": "hv1", "region": "test", "keystore": "\(self.dir.file("agent-keys"))", "kek": "main", \(limit)
                 "vms": [{"name": "web", "power": "running", "disks": [
                    {"path": "\(self.dir.file("os.img"))", "role": "os"},
                    {"path": "\(self.dir.file("data.img"))", "role": "data"},
                    {"path": "\(self.dir.file("temp.img"))", "role": "temporary"}]}]}
                """
            try config.write(toFile: self.dir.file("agent.json"), atomically: true, encoding: .utf8)
            self.server = try ServedVault(directory: self.dir.file("vault"), extraArguments: ["--scheduler-seconds", "1"],
                                          environment: serverEnvironment)
        }

        static func token(_ arguments: [String], in dir: TemporaryDirectory) throws -> String {
            let made = try Programs.run("tresor-vault", ["token", "create", "vault"] + arguments, directory: dir.path)
            #expect(made.status == 0, "\(made.stderr)")
            return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func run(_ program: String, _ arguments: [String], token: String?, environment: [String: String] = [:]) throws -> Programs.Result {
            var environment = environment
            if let token { environment["TRESOR_TOKEN"] = token }
            return try Programs.run(program, arguments, environment: environment, directory: self.dir.path)
        }

        func startAgent(environment: [String: String] = [:]) throws -> Process {
            let (process, _, _) = try Programs.start("tresor", ["agent", "--vault", self.server.url, "--config", "agent.json", "--poll-seconds", "1"],
                                                     environment: environment.merging(["TRESOR_TOKEN": self.agent]) { $1 }, directory: self.dir.path)
            return process
        }

        func job(_ id: String) throws -> [String: Any] {
            let shown = try self.run("tresor", ["job", "show", id, "--vault", self.server.url, "--json"], token: self.admin)
            #expect(shown.status == 0, "\(shown.stderr)")
            return try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as! [String: Any]
        }

        /// Waits (up to a minute) until the job's status is one of `statuses`.
        func waitForJob(_ id: String, in statuses: Set<String>) throws -> [String: Any] {
            for _ in 0..<600 {
                let job = try self.job(id)
                if statuses.contains(job["status"] as! String) { return job }
                Thread.sleep(forTimeInterval: 0.1)
            }
            Issue.record("job \(id) never reached \(statuses)")
            return try self.job(id)
        }

        func backupNow(_ extra: [String] = []) throws -> Programs.Result {
            try self.run("tresor", ["backup-now", "--vault", self.server.url, "--vm", "web", "--json"] + extra, token: self.admin)
        }

        /// Backup now, retried while the agent has not reported yet.
        func backupNowOnceReported(_ extra: [String] = []) throws -> Programs.Result {
            for _ in 0..<100 {
                let asked = try self.backupNow(extra)
                if !asked.stderr.contains("vm.not_reported") { return asked }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return try self.backupNow(extra)
        }
    }

    @Test func anAgentRunsBackupNowJobsWhosePointsKeepTheirOwnRetentionUpToTheDailyLimit() throws {
        let setup = try Setup()
        let agent = try setup.startAgent()
        defer { agent.terminate(); agent.waitUntilExit(); _ = setup.server.stop() }

        let first = try setup.backupNowOnceReported(["--wait", "--keep-days", "90"])
        #expect(first.status == 0, "\(first.stderr)")
        let job = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as! [String: Any]
        #expect(job["status"] as? String == "completed" && job["trigger"] as? String == "on-demand")
        #expect((job["tasks"] as! [[String: Any]]).map { $0["name"] as! String } == ["snapshot", "transfer"])
        #expect(job["bytesDone"] as? Int == 16 << 20, "the OS and data disks, not the temporary disk")
        let point = try #require(job["recoveryPoint"] as? String)
        let keep = try #require(job["keepUntilMillis"] as? Int64)
        let created = try #require(job["createdAtMillis"] as? Int64)
        #expect(keep - created == 90 * 86_400_000)
        // The on-demand record is in the store, beside the manifest, so retention sees it without the job database.
        let record = try String(contentsOfFile: setup.dir.file("vault/store/retention/\(point).json"), encoding: .utf8)
        #expect(record.contains("\"keepUntilMillis\":\(keep)") || record.contains("\"keepUntilMillis\" : \(keep)"))

        // The point restores with the operator's key to the two disks that were backed up.
        let restored = try setup.run("tresor-restore", ["vm", "--vault", setup.server.url, "--vm", "web", "--output-dir", "whole",
                                                        "--keystore", "keys", "--kek", "main"], token: setup.admin, environment: JobTests.passphrase)
        #expect(restored.status == 0, "\(restored.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: setup.dir.file("whole")).sorted()
        #expect(files == ["disk-0-os.img", "disk-1-data.img"], "\(files)")
        #expect(TestImages.equal(setup.dir.file("whole/disk-0-os.img"), setup.dir.file("os.img")))
        #expect(TestImages.equal(setup.dir.file("whole/disk-1-data.img"), setup.dir.file("data.img")))

        // Three on-demand backups a UTC day; the fourth is refused with the limit named.
        for _ in 0..<2 { #expect(try setup.backupNow(["--wait"]).status == 0) }
        let fourth = try setup.backupNow()
        #expect(fourth.status != 0 && fourth.stderr.contains("error[job.on_demand_limit]") && fourth.stderr.contains("the limit is 3"),
                "\(fourth.stderr)")

        let listed = try setup.run("tresor", ["job", "list", "--vault", setup.server.url, "--status", "completed", "--json"], token: setup.admin)
        let completed = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as! [[String: Any]]
        #expect(completed.filter { $0["kind"] as? String == "backup" }.count == 3)
        #expect(completed.filter { $0["kind"] as? String == "restore" }.count == 1, "the served restore above is a job too")
        let late = try setup.run("tresor", ["job", "cancel", point, "--vault", setup.server.url], token: setup.admin)
        #expect(late.stderr.contains("error[job.not_found]"))
        let done = try setup.run("tresor", ["job", "cancel", job["id"] as! String, "--vault", setup.server.url], token: setup.admin)
        #expect(done.status != 0 && done.stderr.contains("error[job.not_cancellable]"), "\(done.stderr)")

        // An agent token is for its host's agent work only.
        let peek = try setup.run("tresor", ["job", "list", "--vault", setup.server.url], token: setup.agent)
        #expect(peek.stderr.contains("error[auth.forbidden]"))
        let other = try setup.run("tresor", ["backup", "--vault", setup.server.url, "--vm", "web", "--host", "hv2", "--disk", "os.img",
                                             "--keystore", "agent-keys", "--kek", "main"], token: setup.agent)
        #expect(other.status != 0 && other.stderr.contains("error[auth.forbidden]") && other.stderr.contains("hv1"), "\(other.stderr)")
        // The job database is readable from the directory too.
        let local = try setup.run("tresor", ["job", "list", "--vault", "vault", "--vm", "web", "--kind", "backup"], token: nil)
        #expect(local.stdout.split(separator: "\n").count == 3, "\(local.stdout) \(local.stderr)")
    }

    /// A vault restarted under a running agent does not end the agent: it says the vault does not answer,
    /// tries again, says when it answers, and runs the next job.
    @Test func anAgentOutlivesItsVaultRestarting() throws {
        let setup = try Setup()
        let (agent, _, agentLog) = try Programs.start("tresor", ["agent", "--vault", setup.server.url, "--config", "agent.json", "--poll-seconds", "1"],
                                                      environment: ["TRESOR_TOKEN": setup.agent], directory: setup.dir.path)
        defer { agent.terminate(); agent.waitUntilExit() }
        #expect(try setup.backupNowOnceReported(["--wait"]).status == 0)
        #expect(setup.server.stop() == 0)
        // The agent's next poll finds no vault; it waits 5 s before asking again.
        Thread.sleep(forTimeInterval: 4.5)
        #expect(agent.isRunning, "the agent ended with its vault")
        let address = setup.server.url.replacingOccurrences(of: "http://", with: "")
        let restarted = try ServedVault(directory: setup.dir.file("vault"), extraArguments: ["--listen", address, "--scheduler-seconds", "1"])
        defer { _ = restarted.stop() }
        #expect(restarted.url == setup.server.url)
        let second = try setup.backupNow(["--wait"])
        #expect(second.status == 0 && second.stdout.contains("\"completed\""), "\(second.stdout) \(second.stderr)")
        let log = String(decoding: agentLog.fileHandleForReading.availableData, as: UTF8.self)
        #expect(log.contains("tresor agent: the vault does not answer (the vault at \(setup.server.url) did not answer")
                && log.contains("trying again in 5 s") && log.contains("tresor agent: the vault answers again"), "\(log)")
    }

    /// An agent started while its vault is down (a host that boots first) waits for it, then runs its jobs.
    @Test func anAgentStartedBeforeItsVaultWaitsForIt() throws {
        let setup = try Setup()
        #expect(setup.server.stop() == 0)
        let (agent, _, agentLog) = try Programs.start("tresor", ["agent", "--vault", setup.server.url, "--config", "agent.json", "--poll-seconds", "1"],
                                                      environment: ["TRESOR_TOKEN": setup.agent], directory: setup.dir.path)
        defer { agent.terminate(); agent.waitUntilExit() }
        Thread.sleep(forTimeInterval: 4.5)
        #expect(agent.isRunning, "the agent ended without its vault")
        let address = setup.server.url.replacingOccurrences(of: "http://", with: "")
        let vault = try ServedVault(directory: setup.dir.file("vault"), extraArguments: ["--listen", address, "--scheduler-seconds", "1"])
        defer { _ = vault.stop() }
        let job = try setup.backupNowOnceReported(["--wait"])
        #expect(job.status == 0 && job.stdout.contains("\"completed\""), "\(job.stdout) \(job.stderr)")
        let log = String(decoding: agentLog.fileHandleForReading.availableData, as: UTF8.self)
        #expect(log.contains("tresor agent: the vault does not answer") && log.contains("tresor agent: the vault answers\n"), "\(log)")
    }

    @Test func aCancelledQueuedJobNeverRunsAndACancelledRunningOneLeavesNoRecoveryPoint() throws {
        // 256 KiB/s: the 16 MiB backup runs long enough to be cancelled in the middle.
        let setup = try Setup(bandwidthLimit: "256KiB")
        defer { _ = setup.server.stop() }
        // An agent that reports and leaves: the VM is known, nothing runs its jobs.
        let once = try setup.run("tresor", ["agent", "--vault", setup.server.url, "--config", "agent.json", "--once"], token: setup.agent)
        #expect(once.status == 0, "\(once.stderr)")
        let queued = try JSONSerialization.jsonObject(with: Data(try setup.backupNow().stdout.utf8)) as! [String: Any]
        let queuedID = queued["id"] as! String
        #expect(queued["status"] as? String == "queued")
        let second = try setup.backupNow()
        #expect(second.stderr.contains("error[vault.operation_in_progress]") && second.stderr.contains(queuedID), "\(second.stderr)")
        let cancelled = try setup.run("tresor", ["job", "cancel", queuedID, "--vault", setup.server.url], token: setup.admin)
        #expect(cancelled.stdout.contains("cancelled"), "\(cancelled.stderr)")

        let agent = try setup.startAgent()
        defer { agent.terminate(); agent.waitUntilExit() }
        let running = try JSONSerialization.jsonObject(with: Data(try setup.backupNow().stdout.utf8)) as! [String: Any]
        let runningID = running["id"] as! String
        let started = try setup.waitForJob(runningID, in: ["in-progress"])
        #expect(started["startedAtMillis"] != nil)
        let asked = try setup.run("tresor", ["job", "cancel", runningID, "--vault", setup.server.url, "--json"], token: setup.admin)
        #expect(asked.stdout.contains("\"cancelling\"") || asked.stdout.contains("\"cancelled\""), "\(asked.stdout) \(asked.stderr)")
        let ended = try setup.waitForJob(runningID, in: ["cancelled", "completed", "failed"])
        #expect(ended["status"] as? String == "cancelled", "\(ended)")
        #expect(ended["errorCode"] as? String == "operation.cancelled")
        #expect(ended["recoveryPoint"] == nil)
        let points = try setup.run("tresor", ["list", "--vault", setup.server.url, "--json"], token: setup.admin)
        #expect((try JSONSerialization.jsonObject(with: Data(points.stdout.utf8)) as! [Any]).isEmpty, "no recovery point: \(points.stdout)")
        #expect(queued["id"] as? String != runningID)
        #expect(try setup.job(queuedID)["startedAtMillis"] == nil, "the cancelled queued job never started")
    }

    @Test func theSchedulerQueuesAProtectedVMsBackupAtItsPolicysTimeAndTheAgentRunsIt() throws {
        // The vault's clock runs ahead so that its next full minute is about 30 s away: the policy's time.
        let real = Int64(Date().timeIntervalSince1970)
        var offset = (90 - real % 60) % 60
        if offset == 0 { offset = 60 }
        let slot = (real + offset + 30) / 60 * 60
        let setup = try Setup(serverEnvironment: ["TRESOR_CLOCK_OFFSET": "\(offset)s"])
        // The host's clock agrees with the vault's, as NTP keeps real ones.
        let agent = try setup.startAgent(environment: ["TRESOR_CLOCK_OFFSET": "\(offset)s"])
        defer { agent.terminate(); agent.waitUntilExit(); _ = setup.server.stop() }
        // A first backup makes the VM known; then a daily policy at the slot's minute (UTC), and protection.
        #expect(try setup.backupNowOnceReported(["--wait"]).status == 0)
        let at = String(format: "%02d:%02d", (slot / 3600) % 24, (slot / 60) % 60)
        let made = try setup.run("tresor", ["policy", "create", "nightly", "--vault", setup.server.url, "--zone", "UTC",
                                            "--daily-at", at, "--keep-days", "7"], token: setup.admin)
        #expect(made.status == 0, "\(made.stderr)")
        let protect = try setup.run("tresor", ["vm", "protect", "--vault", setup.server.url, "--vm", "web", "--policy", "nightly"], token: setup.admin)
        #expect(protect.status == 0, "\(protect.stderr)")
        // Within a minute and a half the scheduled job is made, taken by the agent and completed.
        var scheduled: [String: Any]?
        for _ in 0..<900 {
            let listed = try setup.run("tresor", ["job", "list", "--vault", setup.server.url, "--json"], token: setup.admin)
            let jobs = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as! [[String: Any]]
            if let job = jobs.first(where: { $0["trigger"] as? String == "scheduled" }), (job["status"] as? String).map({ ["completed", "failed"].contains($0) }) == true {
                scheduled = job
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let job = try #require(scheduled, "no scheduled job ended")
        #expect(job["status"] as? String == "completed", "\(job)")
        #expect(job["scheduledForMillis"] as? Int64 == slot * 1000)
        #expect(job["keepUntilMillis"] == nil, "a scheduled point follows the policy")
        let point = try #require(job["recoveryPoint"] as? String)
        #expect(!FileManager.default.fileExists(atPath: setup.dir.file("vault/store/retention/\(point).json")))
        let list = try setup.run("tresor", ["list", "--vault", setup.server.url, "--json"], token: setup.admin)
        #expect((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [Any]).count == 2)
        // The dashboard shows the VM protected with its last backup; /metrics has its last backup time.
        let board = try setup.run("tresor", ["dashboard", "--vault", setup.server.url, "--json"], token: setup.admin)
        let dashboard = try JSONSerialization.jsonObject(with: Data(board.stdout.utf8)) as! [String: Any]
        let vm = (dashboard["vms"] as! [[String: Any]])[0]
        #expect(vm["status"] as? String == "protected" && vm["policy"] as? String == "nightly" && vm["lastBackupStatus"] as? String == "completed",
                "\(vm)")
        #expect((dashboard["jobsLast24Hours"] as! [String: Int])["completed"] == 3, "the protect job and two backups")
        let usage = (dashboard["usage"] as! [[String: Any]])[0]
        #expect(usage["storageBytes"] as? Int == (dashboard["storage"] as! [String: Any])["referencedBytes"] as? Int)
        #expect(usage["protectedInstanceBytes"] as? Int ?? 0 > 0)
        let metrics = try RawHTTP.call("GET", setup.server.url + "/metrics", token: nil, directory: setup.dir.path)
        #expect(metrics.body.contains(#"tresor_vm_last_backup_timestamp_seconds{vm="web",host="hv1"}"#), "\(metrics.body.suffix(600))")
    }

    /// A webhook receiver: Python's HTTP server, appending each POSTed body as one line to `file`.
    static func startWebhookReceiver(file: String, portFile: String) throws -> Process {
        let script = """
            import http.server, sys
            class Receiver(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers['Content-Length']))
                    with open(sys.argv[1], 'ab') as f: f.write(body.replace(b'\\n', b' ') + b'\\n')
                    self.send_response(204); self.end_headers()
                def log_message(self, *a): pass
            server = http.server.HTTPServer(('127.0.0.1', 0), Receiver)
            open(sys.argv[2], 'w').write(str(server.server_port))
            server.serve_forever()
            """
        let (process, _, _) = try Programs.startSystem("/usr/bin/python3", ["-c", script, file, portFile])
        return process
    }

    @Test func aFailedBackupJobIsPostedToTheAlertWebhook() throws {
        let scratch = TemporaryDirectory()
        let receiver = try Self.startWebhookReceiver(file: scratch.file("alerts"), portFile: scratch.file("port"))
        // SIGKILL: a child of the test runner may inherit a mask that blocks SIGTERM.
        defer { kill(receiver.processIdentifier, SIGKILL); receiver.waitUntilExit() }
        var port = ""
        for _ in 0..<100 where port.isEmpty {
            port = (try? String(contentsOfFile: scratch.file("port"), encoding: .utf8)) ?? ""
            Thread.sleep(forTimeInterval: 0.05)
        }
        let setup = try Setup(serverEnvironment: ["TRESOR_ALERT_WEBHOOK": "http://127.0.0.1:\(port)/hook"])
        // The VM's OS disk is gone: its backup fails on the host.
        try FileManager.default.moveItem(atPath: setup.dir.file("os.img"), toPath: setup.dir.file("os.img.gone"))
        let agent = try setup.startAgent()
        defer { agent.terminate(); agent.waitUntilExit(); _ = setup.server.stop() }
        let asked = try setup.backupNowOnceReported(["--wait"])
        #expect(asked.status != 0 && asked.stderr.contains("error[disk.unreadable]"), "\(asked.stderr)")
        var alerts = ""
        for _ in 0..<200 where alerts.isEmpty {
            alerts = (try? String(contentsOfFile: scratch.file("alerts"), encoding: .utf8)) ?? ""
            Thread.sleep(forTimeInterval: 0.1)
        }
        let alert = try JSONSerialization.jsonObject(with: Data(alerts.split(separator: "\n")[0].utf8)) as! [String: Any]
        #expect(alert["event"] as? String == "backup.failed")
        let job = alert["job"] as! [String: Any]
        #expect(job["vmName"] as? String == "web" && job["errorCode"] as? String == "disk.unreadable" && job["status"] as? String == "failed")
        let board = try setup.run("tresor", ["dashboard", "--vault", setup.server.url], token: setup.admin)
        #expect(board.stdout.contains("web@hv1  not-protected") && board.stdout.contains("failed error[disk.unreadable]"), "\(board.stdout)")
    }

    @Test func aDiscoveryAsksAgentsToReportListsUnprotectedVMsAndRunsOneAtATime() throws {
        let setup = try Setup()
        defer { _ = setup.server.stop() }
        // An agent that reported once and is not polling: a discovery waits for its next report.
        #expect(try setup.run("tresor", ["agent", "--vault", setup.server.url, "--config", "agent.json", "--once"], token: setup.agent).status == 0)
        let started = try setup.run("tresor", ["vm", "discover", "--vault", setup.server.url, "--no-wait"], token: setup.admin)
        #expect(started.status == 0, "\(started.stderr)")
        let id = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let second = try setup.run("tresor", ["vm", "discover", "--vault", setup.server.url], token: setup.admin)
        #expect(second.status != 0 && second.stderr.contains("another operation is in progress for this item") && second.stderr.contains(id),
                "\(second.stderr)")
        #expect(try setup.job(id)["status"] as? String == "in-progress")
        // The polling agent is told to report; the discovery then ends with what it reported.
        let agent = try setup.startAgent()
        defer { agent.terminate(); agent.waitUntilExit() }
        let ended = try setup.waitForJob(id, in: ["completed", "failed"])
        #expect(ended["status"] as? String == "completed", "\(ended)")
        let found = try #require(ended["discovered"] as? [[String: Any]])
        #expect(found.count == 1)
        #expect(found.first?["name"] as? String == "web" && found.first?["host"] as? String == "hv1" && found.first?["region"] as? String == "test")
        #expect(found.first?["sameRegion"] as? Bool == false, "the vault's region is not 'test'")
        #expect(found.first?["dataDisks"] as? Int == 1 && found.first?["powerState"] as? String == "running")
        // Once protected, the VM is no longer listed.
        #expect(try setup.backupNowOnceReported(["--wait"]).status == 0)
        #expect(try setup.run("tresor", ["vm", "protect", "--vault", setup.server.url, "--vm", "web", "--policy", "DefaultPolicy"],
                              token: setup.admin).status == 0)
        let again = try setup.run("tresor", ["vm", "discover", "--vault", setup.server.url, "--json"], token: setup.admin)
        let job = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as! [String: Any]
        #expect(job["status"] as? String == "completed" && (job["discovered"] as? [Any])?.isEmpty == true, "\(job)")
    }

    @Test func registrationChecksRegionAgentAndDataDisksPerVMAndIsIdempotent() throws {
        let setup = try Setup(region: "test")
        // Restarted below with its clock ten minutes on, so that the agents' reports are old.
        var server = setup.server
        defer { _ = server.stop() }
        // hv1 (region test): web, and big with 33 data disks; hv2 (region eu-2): far.
        let data = setup.dir.file("data.img")
        let bigDisks = (0..<33).map { _ in #"{"path": "\#(data)", "role": "data"}"# }.joined(separator: ", ")
        var config = try String(contentsOfFile: setup.dir.file("agent.json"), encoding: .utf8)
        config = config.replacingOccurrences(of: #""vms": ["#, with: #""vms": [{"name": "big", "disks": [{"path": "\#(data)", "role": "os"}, \#(bigDisks)]}, "#)
        try config.write(toFile: setup.dir.file("agent.json"), atomically: true, encoding: .utf8)
        let far = """
            {"host": "hv2", "region": "eu-2", "keystore": "\(setup.dir.file("agent-keys"))", "kek": "main",
             "vms": [{"name": "far", "disks": [{"path": "\(data)", "role": "os"}]}, {"name": "far ", "disks": [{"path": "\(data)", "role": "os"}]}]}
            """
        try far.write(toFile: setup.dir.file("far.json"), atomically: true, encoding: .utf8)
        let hv2 = try Setup.token(["--role", "agent", "--host", "hv2"], in: setup.dir)
        for (file, token) in [("agent.json", setup.agent), ("far.json", hv2)] {
            let once = try setup.run("tresor", ["agent", "--vault", server.url, "--config", file, "--once"], token: token)
            #expect(once.status == 0, "\(once.stderr)")
        }
        func register(_ vms: [String]) throws -> (Programs.Result, [String: [String: Any]]) {
            let made = try setup.run("tresor", ["vm", "register", "--vault", server.url, "--json"] + vms.flatMap { ["--vm", $0] }, token: setup.admin)
            let jobs = (try? JSONSerialization.jsonObject(with: Data(made.stdout.utf8)) as? [[String: Any]]) ?? []
            return (made, Dictionary(uniqueKeysWithValues: jobs.map { ($0["vmName"] as! String, $0) }))
        }
        let (first, jobs) = try register(["web", "big", "far", "far "])
        #expect(first.status != 0 && first.stderr.contains("3 of 4 VMs were not registered"), "\(first.stderr)")
        // A name no backup would take is not registered either.
        #expect(jobs["far "]?["errorCode"] as? String == "usage.invalid_argument"
                && (jobs["far "]?["message"] as? String)?.contains("a space at an end") == true, "\(first.stdout)")
        #expect(jobs["web"]?["status"] as? String == "completed" && jobs["web"]?["message"] as? String == "registered")
        #expect(jobs["big"]?["errorCode"] as? String == "vm.too_many_disks" && (jobs["big"]?["message"] as? String)?.contains("at most 32") == true)
        #expect(jobs["far"]?["errorCode"] as? String == "vm.region_mismatch" && (jobs["far"]?["message"] as? String)?.contains("eu-2") == true)
        let (again, repeated) = try register(["web"])
        #expect(again.status == 0 && repeated["web"]?["message"] as? String == "already registered", "one job per VM, idempotent")
        let unknown = try setup.run("tresor", ["vm", "register", "--vault", server.url, "--vm", "ghost"], token: setup.admin)
        #expect(unknown.stderr.contains("error[vm.not_reported]"))
        let board = try setup.run("tresor", ["dashboard", "--vault", server.url], token: setup.admin)
        #expect(board.stdout.contains("web@hv1  registered"), "\(board.stdout)")
        // A registered VM is protected before its first backup; that backup then belongs to the protection.
        // In bulk, one job per VM: web is protected, ghost (neither backed up nor registered) fails its own job.
        let protect = try setup.run("tresor", ["vm", "protect", "--vault", server.url, "--vm", "web", "--vm", "ghost", "--policy", "DefaultPolicy",
                                               "--json"], token: setup.admin)
        #expect(protect.status != 0 && protect.stderr.contains("error[catalog.not_found]: 1 of 2 VMs were not protected"), "\(protect.stderr)")
        let protectJobs = (try? JSONSerialization.jsonObject(with: Data(protect.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(protectJobs.map { $0["kind"] as? String } == ["protect", "protect"])
        #expect(protectJobs.first?["status"] as? String == "completed" && protectJobs.first?["message"] as? String == "protected under DefaultPolicy"
                && protectJobs.first?["host"] as? String == "hv1")
        #expect(protectJobs.last?["errorCode"] as? String == "catalog.not_found"
                && (protectJobs.last?["message"] as? String)?.contains("no backup, no registration") == true, "\(protect.stdout)")
        let pending = try setup.run("tresor", ["dashboard", "--vault", server.url], token: setup.admin)
        #expect(pending.stdout.contains("web@hv1  protected-initial-backup-pending"), "\(pending.stdout)")
        let reprotect = try setup.run("tresor", ["vm", "protect", "--vault", server.url, "--vm", "web", "--policy", "DefaultPolicy"], token: setup.admin)
        #expect(reprotect.status == 0 && reprotect.stdout.contains("web@hv1: completed, already protected under DefaultPolicy"), "\(reprotect.stdout)")
        #expect(try setup.run("tresor", ["backup-now", "--vault", server.url, "--vm", "web"], token: setup.admin).status == 0)
        #expect(try setup.run("tresor", ["agent", "--vault", server.url, "--config", "agent.json", "--once"], token: setup.agent).status == 0)
        let vms = try setup.run("tresor", ["vm", "list", "--vault", server.url, "--json"], token: setup.admin)
        let rows = (try JSONSerialization.jsonObject(with: Data(vms.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(rows.count == 1 && rows.first?["protection"] as? String == "protected" && rows.first?["recoveryPoints"] as? Int == 1,
                "one VM: the backup took the protected VM's ID \(vms.stdout)")
        let protectedNow = try setup.run("tresor", ["dashboard", "--vault", server.url], token: setup.admin)
        #expect(protectedNow.stdout.contains("web@hv1  protected "), "\(protectedNow.stdout)")
        // Ten minutes later by the vault's clock, the agents are silent: registering waits for a running agent.
        #expect(server.stop() == 0)
        server = try ServedVault(directory: setup.dir.file("vault"), environment: ["TRESOR_CLOCK_OFFSET": "10m"])
        let (late, stale) = try register(["big"])
        #expect(late.status != 0 && stale["big"]?["errorCode"] as? String == "agent.not_running", "\(late.stdout) \(late.stderr)")
        #expect((stale["big"]?["message"] as? String)?.contains("not in a state to be registered") == true)
    }
}
