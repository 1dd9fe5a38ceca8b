import Foundation
import Testing
import TresorCore
import TresorTestSupport

extension JobTests {
    /// Two agents, four VMs and two policies through a simulated month: each day the vault starts with its
    /// clock a day further on, its scheduler queues the day's backups, both agents run them, and at the end
    /// garbage collection keeps exactly the points each policy says.
    @Test func twoAgentsFourVMsAndTwoPoliciesRunASimulatedMonth() throws {
        let days = 30
        let setup = try Setup(region: "test")
        _ = setup.server.stop()
        let hv2 = try Setup.token(["--role", "agent", "--host", "hv2"], in: setup.dir)
        for (index, name) in ["a", "b", "c", "d"].enumerated() {
            try TestImages.write(setup.dir.file("\(name).img"), size: 2 << 20, seed: 80 + UInt64(index))
        }
        for (host, vms) in [("hv1", ["a", "b"]), ("hv2", ["c", "d"])] {
            let list = vms.map { #"{"name": "\#($0)", "disks": [{"path": "\#(setup.dir.file("\($0).img"))", "role": "os"}]}"# }
            try """
                {"host": "\(host)", "region": "test", "keystore": "\(setup.dir.file("agent-keys"))", "kek": "main",
                 "vms": [\(list.joined(separator: ", "))]}
                """.write(toFile: setup.dir.file("\(host).json"), atomically: true, encoding: .utf8)
        }
        let agents = [("hv1", setup.agent), ("hv2", hv2)]
        // The policies run an hour before the test's time of day, so each simulated day's start finds its slot
        // within the scheduler's two-hour grace.
        let start = Date()
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let slot = utc.dateComponents([.hour, .minute], from: start.addingTimeInterval(-3600))
        let at = String(format: "%02d:%02d", slot.hour!, slot.minute!)
        let weekdayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        // Day 1's weekday, in UTC: the weekly points fall on days 1, 8, 15, 22 and 29.
        let weekly = weekdayNames[utc.component(.weekday, from: start.addingTimeInterval(86_400 + 60)) - 1]

        func served(day: Int) throws -> ServedVault {
            try ServedVault(directory: setup.dir.file("vault"), extraArguments: ["--scheduler-seconds", "1"],
                            environment: ["TRESOR_CLOCK_OFFSET": day == 0 ? "" : "\(day)d"])
        }
        func run(_ server: ServedVault, _ arguments: [String], token: String, day: Int) throws -> Programs.Result {
            let result = try setup.run("tresor", arguments + ["--vault", server.url], token: token,
                                       environment: ["TRESOR_CLOCK_OFFSET": day == 0 ? "" : "\(day)d"])
            #expect(result.status == 0, "day \(day): tresor \(arguments.joined(separator: " ")): \(result.stderr)")
            return result
        }
        func json(_ result: Programs.Result) -> [[String: Any]] {
            (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]) ?? []
        }

        // Day 0: the agents report, the VMs are registered and protected (a, c short; b, d gfs).
        var server = try served(day: 0)
        for (host, token) in agents { _ = try run(server, ["agent", "--config", "\(host).json", "--once"], token: token, day: 0) }
        _ = try run(server, ["vm", "register", "--vm", "a", "--vm", "b", "--vm", "c", "--vm", "d"], token: setup.admin, day: 0)
        _ = try run(server, ["policy", "create", "short", "--daily-at", at, "--keep-days", "7"], token: setup.admin, day: 0)
        _ = try run(server, ["policy", "create", "gfs", "--daily-at", at, "--keep-days", "7", "--keep-weeks", "3", "--weekly-on", weekly],
                    token: setup.admin, day: 0)
        for (vm, policy) in [("a", "short"), ("b", "gfs"), ("c", "short"), ("d", "gfs")] {
            _ = try run(server, ["vm", "protect", "--vm", vm, "--policy", policy], token: setup.admin, day: 0)
        }
        #expect(server.stop() == 0)

        // Days 1 to 30: the scheduler queues four backups, the agents run them, one disk changes a little.
        for day in 1...days {
            server = try served(day: day)
            var queued = 0
            for _ in 0..<100 {
                queued = json(try run(server, ["job", "list", "--status", "queued", "--json"], token: setup.admin, day: day)).count
                if queued == 4 { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            #expect(queued == 4, "day \(day): \(queued) jobs queued")
            for (host, token) in agents { _ = try run(server, ["agent", "--config", "\(host).json", "--once"], token: token, day: day) }
            try TestImages.scribble(setup.dir.file("b.img"), blocks: 2, seed: UInt64(day))
            if day < days { #expect(server.stop() == 0) }
        }
        defer { _ = server.stop() }

        let jobs = json(try run(server, ["job", "list", "--json"], token: setup.admin, day: days)).filter { $0["kind"] as? String == "backup" }
        #expect(jobs.count == 4 * days && jobs.allSatisfy { $0["status"] as? String == "completed" && $0["trigger"] as? String == "scheduled" },
                "\(jobs.filter { $0["status"] as? String != "completed" })")
        _ = try run(server, ["gc"], token: setup.admin, day: days)

        // What stays: "short" keeps the last 7 days; "gfs" also keeps the weekly points of the last 3 weeks.
        let points = json(try run(server, ["list", "--json"], token: setup.admin, day: days))
        let base = start.timeIntervalSince1970 * 1000
        func keptDays(_ vm: String) -> [Int] {
            points.filter { $0["vmName"] as? String == vm }
                .map { Int((($0["createdAtMillis"] as! NSNumber).doubleValue - base) / 86_400_000) }.sorted()
        }
        // A point of day d expires at day d + 7 (daily) or d + 21 (weekly, days 1, 8, 15 …), at its time of day,
        // which is before the collection's: day 30 keeps 24–30, and the weekly points of days 15 and 22.
        let daily = (1...days).filter { $0 + 7 > days }
        let weeklyToo = (1...days).filter { $0 + 7 > days || ($0 % 7 == 1 && $0 + 21 > days) }
        #expect(days != 30 || weeklyToo == [15, 22] + daily)
        for vm in ["a", "c"] { #expect(keptDays(vm) == daily, "\(vm): \(keptDays(vm))") }
        for vm in ["b", "d"] { #expect(keptDays(vm) == weeklyToo, "\(vm): \(keptDays(vm))") }
        let board = try run(server, ["dashboard", "--json"], token: setup.admin, day: days)
        let dashboard = try JSONSerialization.jsonObject(with: Data(board.stdout.utf8)) as? [String: Any]
        #expect((dashboard?["protection"] as? [String: Int])?["protected"] == 4, "\(board.stdout)")
    }
}
