import Foundation
import Testing
import TresorTestSupport

extension ServerTests {
    /// Quotas set with `tresor-vault quota set` on a served vault: a backup that would pass a VM's quota
    /// fails with 507 quota.exceeded and leaves no recovery point; the vault's quota stops backups of every
    /// VM once reached; clearing a quota lets the next backup through; earlier points stay intact.
    @Test func storageQuotasStopBackupsThatWouldPassThemAndLeaveNoPoint() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        defer { _ = server.stop() }
        let admin = setup.tokens["admin"]!
        func quota(_ arguments: [String]) throws {
            let set = try Programs.run("tresor-vault", ["quota", "set", "vault"] + arguments, directory: setup.dir.path)
            #expect(set.status == 0, "\(set.stderr)")
        }
        func points() throws -> [[String: Any]] {
            let listed = try setup.run("tresor", ["list", "--vault", server.url, "--json"], token: admin)
            return (try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]) ?? []
        }

        // 1 MiB for web: its first backup stores far more, fails mid-upload and leaves nothing.
        try quota(["--vm", "web=1MiB"])
        let refused = try self.backup(setup, server.url, token: admin)
        #expect(refused.status != 0 && refused.stderr.contains("error[quota.exceeded]") && refused.stderr.contains("web"), "\(refused.stderr)")
        #expect(try points().isEmpty)
        // Another VM has no quota of its own.
        let other = try self.backup(setup, server.url, vm: "db", token: admin)
        #expect(other.status == 0, "\(other.stderr)")

        // Clearing web's quota lets it through; a vault quota below what is stored stops every VM at the start.
        try quota(["--vm", "web=none"])
        #expect(try self.backup(setup, server.url, token: admin).status == 0)
        try quota(["--vault", "1MiB"])
        let full = try self.backup(setup, server.url, vm: "db", token: admin)
        #expect(full.status != 0 && full.stderr.contains("error[quota.exceeded]") && full.stderr.contains("of its 1048576-byte quota"), "\(full.stderr)")
        #expect(try points().count == 2, "earlier points are intact")

        let shown = try Programs.run("tresor-vault", ["quota", "show", "vault", "--json"], directory: setup.dir.path)
        let usage = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        #expect(usage?["limitBytes"] as? Int == 1 << 20 && (usage?["vms"] as? [[String: Any]])?.count == 2, "\(shown.stdout)")
        let bad = try Programs.run("tresor-vault", ["quota", "set", "vault", "--vm", "web=lots"], directory: setup.dir.path)
        #expect(bad.status != 0 && bad.stderr.contains("error[usage.invalid_argument]"), "\(bad.stderr)")
    }
}
