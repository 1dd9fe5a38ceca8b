import Foundation
import Testing
import TresorTestSupport

/// `tresor-restore keys`: a recovery point's keys restored into a recovery site's key store, which then
/// restores that point — and no other — without the operator's key store.
@Suite(.serialized)
struct KeyRestoreTests {
    let operatorPass = ["TRESOR_PASSPHRASE": "operator passphrase"]
    let sitePass = ["TRESOR_PASSPHRASE": "recovery site passphrase"]

    @Test func aRecoverySiteRestoresExactlyThePointWhoseKeysWereRestoredToIt() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("disk.img"), size: 6 << 20, seed: 97)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: operatorPass, directory: dir.path)
        func backup() throws -> String {
            let made = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "web", "--disk", "disk.img", "--keystore", "keys", "--kek", "main"],
                                        environment: operatorPass, directory: dir.path)
            #expect(made.status == 0, "\(made.stderr)")
            return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let first = try backup()
        try FileManager.default.copyItem(atPath: dir.file("disk.img"), toPath: dir.file("at-first.img"))
        try TestImages.scribble(dir.file("disk.img"), blocks: 8, seed: 98)
        let second = try backup()
        #expect(try Programs.run("tresor", ["keys", "create", "site", "--keystore", "site", "--type", "x25519"], environment: sitePass,
                                 directory: dir.path).status == 0)

        func restoreAtSite(_ point: String, _ output: String) throws -> Programs.Result {
            try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "web", "--recovery-point", point, "--disk", "0", "--output", output,
                                                "--keystore", "site", "--kek", "site"], environment: sitePass, directory: dir.path)
        }
        let before = try restoreAtSite(first, "before.img")
        #expect(before.status != 0 && before.stderr.contains("error[keys.untrusted_signer]"), "\(before.stderr)")

        let restoredKeys = try Programs.run("tresor-restore", ["keys", "--vault", "vault", "--vm", "web", "--recovery-point", first, "--keystore", "keys",
                                                               "--kek", "main", "--to-keystore", "site", "--to-kek", "site", "--json"],
                                            environment: operatorPass, directory: dir.path)
        #expect(restoredKeys.status == 0, "\(restoredKeys.stderr)")
        let file = dir.file("site/restored/\(first).json")
        #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) == 0o600)

        // The operator's key store is gone from this machine: the site's alone restores the point.
        try FileManager.default.moveItem(atPath: dir.file("keys"), toPath: dir.file("keys-elsewhere"))
        let after = try restoreAtSite(first, "after.img")
        #expect(after.status == 0, "\(after.stderr)")
        #expect(TestImages.equal(dir.file("after.img"), dir.file("at-first.img")))
        let other = try restoreAtSite(second, "other.img")
        #expect(other.status != 0 && other.stderr.contains("error[keys.untrusted_signer]"), "only the restored point: \(other.stderr)")

        // A pin edited to another signer is no pin.
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        json["signer"] = String(repeating: "ab", count: 32)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: file))
        let edited = try restoreAtSite(first, "edited.img")
        #expect(edited.status != 0 && edited.stderr.contains("error[keys.untrusted_signer]"), "\(edited.stderr)")
    }
}
