import Foundation
import Testing
import TresorCore
import TresorRemote
import TresorTestSupport

/// A real `tresor-vault serve` on loopback, used by the real programs and by curl for what they never send.
@Suite(.serialized)
struct ServerTests {
    let passphrase = ["TRESOR_PASSPHRASE": "server passphrase"]

    /// A vault, a KEK, two disks and a token per role.
    final class Setup {
        let dir = TemporaryDirectory()
        var tokens: [String: String] = [:]

        init(passphrase: [String: String]) throws {
            try TestImages.write(self.dir.file("os.img"), size: 12 << 20, seed: 31)
            try TestImages.write(self.dir.file("data.img"), size: 5 << 20, seed: 32)
            #expect(try Programs.run("tresor-vault", ["init", "vault"], directory: self.dir.path).status == 0)
            #expect(try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: passphrase,
                                     directory: self.dir.path).status == 0)
            for role in ["admin", "backup", "restore", "reader"] {
                self.tokens[role] = try self.token(["--role", role])
            }
            self.tokens["backup-web"] = try self.token(["--role", "backup", "--vm", "web"])
        }

        func token(_ arguments: [String]) throws -> String {
            let made = try Programs.run("tresor-vault", ["token", "create", "vault"] + arguments, directory: self.dir.path)
            #expect(made.status == 0, "\(made.stderr)")
            return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func run(_ program: String, _ arguments: [String], token: String?, passphrase: [String: String] = [:]) throws -> Programs.Result {
            var environment = passphrase
            if let token { environment["TRESOR_TOKEN"] = token }
            return try Programs.run(program, arguments, environment: environment, directory: self.dir.path)
        }
    }

    func backup(_ setup: Setup, _ url: String, vm: String = "web", token: String?, extra: [String] = []) throws -> Programs.Result {
        try setup.run("tresor", ["backup", "--vault", url, "--vm", vm, "--disk", "os.img", "--disk", "data.img",
                                 "--keystore", "keys", "--kek", "main", "--json"] + extra, token: token, passphrase: self.passphrase)
    }

    @Test func remoteBackupListAndRestoreGiveWhatTheLocalVaultGives() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        let first = try self.backup(setup, server.url, token: setup.tokens["backup-web"]!)
        #expect(first.status == 0, "\(first.stderr)")
        try TestImages.scribble(setup.dir.file("os.img"), blocks: 3, seed: 33)
        let second = try self.backup(setup, server.url, token: setup.tokens["backup"]!)
        #expect(second.status == 0, "\(second.stderr)")
        let stats = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as! [String: Any]
        #expect((stats["chunksReused"] as? Int ?? 0) > 0, "the incremental reuses the first point's chunks")
        // A backup token reads no chunk data, yet builds deltas from its change cache's block tags.
        #expect((stats["chunksDelta"] as? Int ?? 0) > 0 && stats["chunksDeltaFromCache"] as? Int == stats["chunksDelta"] as? Int, "\(second.stdout)")
        // Without the cache it has nothing to diff against, and stores changed chunks whole.
        try TestImages.scribble(setup.dir.file("os.img"), blocks: 3, seed: 35)
        let uncached = try self.backup(setup, server.url, token: setup.tokens["backup"]!, extra: ["--no-cache"])
        #expect(uncached.status == 0, "\(uncached.stderr)")
        let uncachedStats = try JSONSerialization.jsonObject(with: Data(uncached.stdout.utf8)) as! [String: Any]
        #expect((uncachedStats["chunksNew"] as? Int ?? 0) > 0 && uncachedStats["chunksDelta"] as? Int == 0, "\(uncached.stdout)")
        // An admin token may read chunk data: without the cache, its backup diffs against the bases it reads.
        try TestImages.scribble(setup.dir.file("os.img"), blocks: 3, seed: 34)
        let third = try self.backup(setup, server.url, token: setup.tokens["admin"]!, extra: ["--no-cache"])
        #expect(third.status == 0, "\(third.stderr)")
        let thirdStats = try JSONSerialization.jsonObject(with: Data(third.stdout.utf8)) as! [String: Any]
        #expect((thirdStats["chunksDelta"] as? Int ?? 0) > 0 && thirdStats["chunksDeltaFromCache"] as? Int == 0, "\(third.stdout)")

        let list = try setup.run("tresor", ["list", "--vault", server.url, "--vm", "web", "--json"], token: setup.tokens["reader"]!)
        #expect(list.status == 0, "\(list.stderr)")
        let points = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]
        #expect(points.count == 4)

        let restore = try setup.run("tresor-restore", ["vm", "--vault", server.url, "--vm", "web", "--output-dir", "whole",
                                                       "--keystore", "keys", "--kek", "main"], token: setup.tokens["restore"]!,
                                    passphrase: self.passphrase)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TestImages.equal(setup.dir.file("whole/disk-0-os.img"), setup.dir.file("os.img")))
        #expect(TestImages.equal(setup.dir.file("whole/disk-1-data.img"), setup.dir.file("data.img")))
        let metrics = try RawHTTP.call("GET", server.url + "/metrics", token: nil, directory: setup.dir.path)
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("tresor_recovery_points_committed_total 4"), "\(metrics.body.prefix(400))")
        #expect(metrics.body.contains("http_server_request_duration_count{http_route=\"/v1/sessions/{session}/chunks/{id}\""))
        // The restore read its chunks, and the delta chunks' bases, several per request.
        #expect(metrics.body.contains("http_server_request_duration_count{http_route=\"/v1/chunk-reads\""))
        // No secrets anywhere; the VM's name only in its last-backup gauge, the one per-VM metric.
        let named = metrics.body.split(separator: "\n").filter { $0.contains("web") }
        #expect(!metrics.body.contains(setup.tokens["admin"]!) && !named.isEmpty
                && named.allSatisfy { $0.contains("tresor_vm_last_backup_timestamp_seconds") }, "\(named)")
        #expect(server.stop() == 0, "SIGTERM ends the server cleanly")

        // The same vault read locally holds exactly what the server committed, and all of it verifies.
        let verify = try setup.run("tresor", ["verify", "--vault", "vault", "--read-data", "--keystore", "keys", "--kek", "main"],
                                   token: nil, passphrase: self.passphrase)
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        let audit = try setup.run("tresor-vault", ["audit", "vault", "--json"], token: nil)
        let entries = try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as! [[String: Any]]
        let actions = entries.map { $0["action"] as? String ?? "" }
        #expect(actions.filter { $0 == "session.commit" }.count == 4)
        #expect(actions.contains("token.create") && actions.contains("session.open") && actions.contains("chunk.store"))
        #expect(!audit.stdout.contains(setup.tokens["admin"]!), "the audit log never holds a token")
    }

    /// A worker gathers the objects it seals across its lookups (8 chunks each) into batches of up to
    /// 8 MiB: 20 incompressible 1 MiB chunks go in three requests of 7, 7 and 6 objects, and come back whole.
    @Test func aWorkerSendsItsObjectsInBatchesOfUpTo8MiB() throws {
        let setup = try Setup(passphrase: self.passphrase)
        var generator = SystemRandomNumberGenerator()
        try Data((0..<(20 << 20) / 8).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } })
            .write(to: URL(fileURLWithPath: setup.dir.file("random.img")))
        let server = try ServedVault(directory: setup.dir.file("vault"))
        let backup = try setup.run("tresor", ["backup", "--vault", server.url, "--vm", "noise", "--disk", "random.img", "--workers", "1",
                                              "--keystore", "keys", "--kek", "main"], token: setup.tokens["backup"]!, passphrase: self.passphrase)
        #expect(backup.status == 0, "\(backup.stderr)")
        let restore = try setup.run("tresor-restore", ["disk", "--vault", server.url, "--vm", "noise", "--disk", "0", "--output", "r.img",
                                                       "--keystore", "keys", "--kek", "main"], token: setup.tokens["restore"]!,
                                    passphrase: self.passphrase)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TestImages.equal(setup.dir.file("r.img"), setup.dir.file("random.img")))
        #expect(server.stop() == 0)
        let audit = try setup.run("tresor-vault", ["audit", "vault", "--json"], token: nil)
        let entries = try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as! [[String: Any]]
        let batches = entries.filter { $0["action"] as? String == "chunk.store" }.compactMap { $0["target"] as? String }
        #expect(batches.map { $0.split(separator: " ").suffix(2).joined(separator: " ") } == ["7 chunks", "7 chunks", "6 chunks"],
                "\(batches)")
    }

    /// A passphrase and a token handed over as `<(command)`, a pipe with no size and no offsets, are read
    /// as files are. Before, both came out empty: a wrong passphrase, and no token.
    @Test func aPassphraseAndATokenComeThroughPipes() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        let script = """
            unset TRESOR_PASSPHRASE TRESOR_TOKEN
            TRESOR_PASSPHRASE_FILE=<(printf '%s\\n' "$PASSPHRASE") "$BIN/tresor" backup --vault "$URL" \\
                --token-file <(printf '%s\\n' "$ADMIN") --vm piped --disk os.img --keystore keys --kek main > backup.json \\
              && "$BIN/tresor" list --vault "$URL" --token-file <(printf '%s' "$ADMIN") --vm piped --json > list.json \\
              && echo both-succeeded
            """
        let output = try Programs.runSystemCapturing("/bin/bash", ["-c", script], environment: [
            "BIN": Programs.binDirectory, "URL": server.url, "PASSPHRASE": self.passphrase["TRESOR_PASSPHRASE"]!, "ADMIN": setup.tokens["admin"]!,
        ], directory: setup.dir.path)
        #expect(output.contains("both-succeeded"), "\(output)")
        let points = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: setup.dir.file("list.json")))) as? [[String: Any]]
        #expect(points?.count == 1)
    }

    @Test func verifyOverHTTPFindsDamageMarksItBadAndTheNextBackupHealsIt() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        #expect(try self.backup(setup, server.url, token: setup.tokens["backup"]!).status == 0)
        let store = setup.dir.file("vault/store/domains")
        let chunk = try #require(try FileManager.default.subpathsOfDirectory(atPath: store)
            .filter { $0.contains("/chunks/") && $0.split(separator: "/").count == 4 }.sorted().first)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: store + "/" + chunk))
        try handle.seek(toOffset: 200)
        try handle.write(contentsOf: Data([0x5A, 0xA5]))
        try handle.close()

        let arguments = ["verify", "--vault", server.url, "--read-data", "--keystore", "keys", "--kek", "main"]
        let damaged = try setup.run("tresor", arguments, token: setup.tokens["restore"]!, passphrase: self.passphrase)
        #expect(damaged.status == 2, "\(damaged.stdout) \(damaged.stderr)")
        #expect(damaged.stdout.contains(String(chunk.split(separator: "/").last!)), "the report names the damaged chunk")
        let healed = try self.backup(setup, server.url, token: setup.tokens["backup"]!)
        let stats = try JSONSerialization.jsonObject(with: Data(healed.stdout.utf8)) as! [String: Any]
        #expect(stats["chunksNew"] as? Int == 1, "the chunk marked bad is uploaded again: \(healed.stdout)")
        let clean = try setup.run("tresor", ["verify", "--vault", server.url, "--keystore", "keys", "--kek", "main"],
                                  token: setup.tokens["restore"]!, passphrase: self.passphrase)
        #expect(clean.status == 0, "\(clean.stdout) \(clean.stderr)")

        // Verify reads the chunks several per request; one missing among them is named as missing.
        let metrics = try RawHTTP.call("GET", server.url + "/metrics", token: nil, directory: setup.dir.path)
        #expect(metrics.body.contains("http_server_request_duration_count{http_route=\"/v1/chunk-reads\""))
        let gone = try #require(try FileManager.default.subpathsOfDirectory(atPath: store)
            .filter { $0.contains("/chunks/") && $0.split(separator: "/").count == 4 }.sorted().last)
        try FileManager.default.moveItem(atPath: store + "/" + gone, toPath: setup.dir.file("gone.chunk"))
        let missing = try setup.run("tresor", arguments, token: setup.tokens["restore"]!, passphrase: self.passphrase)
        #expect(missing.status == 2, "\(missing.stdout) \(missing.stderr)")
        let goneLine = missing.stdout.split(separator: "\n").first { $0.contains(String(gone.split(separator: "/").last!)) }
        #expect(goneLine?.contains("missing") == true, "\(missing.stdout)")
        // Without --read-data, existence comes from chunk sizes asked many per request, not a HEAD per chunk.
        let structure = try setup.run("tresor", ["verify", "--vault", server.url, "--keystore", "keys", "--kek", "main"],
                                      token: setup.tokens["restore"]!, passphrase: self.passphrase)
        #expect(structure.status == 2 && structure.stdout.contains(String(gone.split(separator: "/").last!)), "\(structure.stdout) \(structure.stderr)")
        let after = try RawHTTP.call("GET", server.url + "/metrics", token: nil, directory: setup.dir.path)
        #expect(after.body.contains("http_server_request_duration_count{http_route=\"/v1/chunk-sizes\""))
        #expect(server.stop() == 0)
    }

    @Test func overHTTPSTheClientTrustsOnlyTheCAOrFingerprintItWasGiven() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let made = try Programs.runSystemCapturing("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem",
            "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ], environment: [:], directory: setup.dir.path)
        #expect(FileManager.default.fileExists(atPath: setup.dir.file("cert.pem")), "\(made)")
        let server = try ServedVault(directory: setup.dir.file("vault"),
                                     extraArguments: ["--tls-cert", setup.dir.file("cert.pem"), "--tls-key", setup.dir.file("key.pem")])
        #expect(server.url.hasPrefix("https://127.0.0.1:"))
        let trusted = try setup.run("tresor", ["backup", "--vault", server.url, "--tls-ca", "cert.pem", "--vm", "web", "--disk", "os.img",
                                               "--keystore", "keys", "--kek", "main"], token: setup.tokens["backup"]!, passphrase: self.passphrase)
        #expect(trusted.status == 0, "\(trusted.stderr)")
        let restored = try setup.run("tresor-restore", ["disk", "--vault", server.url, "--tls-ca", "cert.pem", "--vm", "web", "--disk", "0",
                                                        "--output", "r.img", "--keystore", "keys", "--kek", "main"],
                                     token: setup.tokens["restore"]!, passphrase: self.passphrase)
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(TestImages.equal(setup.dir.file("r.img"), setup.dir.file("os.img")))
        // Without the CA the self-signed certificate is not trusted; there is no switch to skip the check.
        let untrusted = try setup.run("tresor", ["list", "--vault", server.url], token: setup.tokens["reader"]!)
        #expect(untrusted.status != 0 && untrusted.stderr.contains("error[network.tls_failed]"), "\(untrusted.stderr)")
        // Said as an operator acts on it, without the TLS library's source paths and error numbers.
        #expect(untrusted.stderr.contains("not signed by a CA this client trusts") && !untrusted.stderr.contains(".build/"), "\(untrusted.stderr)")
        // Pinned by fingerprint: the certificate the server printed is accepted, and any other fingerprint is
        // refused naming the one presented.
        let fingerprint = try #require(server.certificateFingerprint)
        let printed = try Programs.runSystemCapturing("/usr/bin/openssl", ["x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha256"],
                                                      environment: [:], directory: setup.dir.path)
        #expect(printed.uppercased().contains(fingerprint), "the fingerprint is the one openssl computes: \(printed) \(fingerprint)")
        let pinned = try setup.run("tresor", ["list", "--vault", server.url, "--tls-fingerprint", fingerprint.lowercased()],
                                   token: setup.tokens["reader"]!)
        #expect(pinned.status == 0 && pinned.stdout.contains("web"), "\(pinned.stderr)")
        let wrongPrint = String(repeating: "AB:", count: 31) + "AB"
        let impostor = try setup.run("tresor", ["list", "--vault", server.url, "--tls-fingerprint", wrongPrint], token: setup.tokens["reader"]!)
        #expect(impostor.status != 0 && impostor.stderr.contains("error[network.tls_failed]") && impostor.stderr.contains(fingerprint),
                "\(impostor.stderr)")
        let both = try setup.run("tresor", ["list", "--vault", server.url, "--tls-fingerprint", fingerprint, "--tls-ca", "cert.pem"],
                                 token: setup.tokens["reader"]!)
        #expect(both.status != 0 && both.stderr.contains("exclude each other"))
        // https:// to a server that speaks plain HTTP.
        #expect(try Programs.run("tresor-vault", ["init", "plain"], directory: setup.dir.path).status == 0)
        let plain = try ServedVault(directory: setup.dir.file("plain"))
        let mixedUp = try setup.run("tresor", ["list", "--vault", plain.url.replacingOccurrences(of: "http://", with: "https://"),
                                               "--tls-ca", "cert.pem"], token: setup.tokens["reader"]!)
        #expect(mixedUp.status != 0 && mixedUp.stderr.contains("does not answer in TLS"), "\(mixedUp.stderr)")
        #expect(plain.stop() == 0)
        let noCertificate = try Programs.run("tresor-vault", ["serve", "plain", "--listen", "127.0.0.1:0", "--tls-cert", "missing.pem",
                                                              "--tls-key", "key.pem"], directory: setup.dir.path)
        #expect(noCertificate.status == 1 && noCertificate.stderr.contains("the TLS certificate file missing.pem does not exist"),
                "\(noCertificate.stderr)")
        // Plain HTTP to anything but loopback is refused before a byte is sent.
        let remote = try setup.run("tresor", ["list", "--vault", "http://192.0.2.1:8300"], token: setup.tokens["reader"]!)
        #expect(remote.status != 0 && remote.stderr.contains("loopback"))
        #expect(server.stop() == 0)
    }

    @Test func keyMaintenanceOverHTTPAddsARecoveryKEKAndRotatesWithoutLosingAKey() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let both = self.passphrase.merging(["TRESOR_RECOVERY_PASSPHRASE": "recovery passphrase"]) { a, _ in a }
        let rescue = try Programs.run("tresor", ["keys", "create", "rescue", "--keystore", "offline", "--type", "x25519"],
                                      environment: ["TRESOR_PASSPHRASE": "recovery passphrase"], directory: setup.dir.path)
        #expect(rescue.status == 0, "\(rescue.stderr)")
        let server = try ServedVault(directory: setup.dir.file("vault"))
        #expect(try self.backup(setup, server.url, token: setup.tokens["backup"]!).status == 0)
        let listed = try setup.run("tresor", ["keys", "list", "--keystore", "keys", "--json"], token: nil)
        let keks = (try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as! [String: Any])["keks"] as! [[String: Any]]
        let mainID = try #require(keks.first?["id"] as? String)

        // The vault refuses to delete the only wraps of its keys, and only admins reach the wraps at all.
        let lastWraps = try RawHTTP.call("DELETE", server.url + "/v1/key-wraps?kek=\(mainID)", token: setup.tokens["admin"]!, directory: setup.dir.path)
        #expect(lastWraps.status == 409 && lastWraps.body.contains("keys.last_wrap"), "\(lastWraps)")
        let asBackup = try RawHTTP.call("GET", server.url + "/v1/key-wraps?kek=\(mainID)", token: setup.tokens["backup"]!, directory: setup.dir.path)
        #expect(asBackup.status == 403)
        let held = try RawHTTP.call("GET", server.url + "/v1/key-wraps?kek=\(mainID)", token: setup.tokens["admin"]!, directory: setup.dir.path)
        let wrapCount = (try JSONSerialization.jsonObject(with: Data(held.body.utf8)) as! [Any]).count
        #expect(held.status == 200 && wrapCount >= 2, "an ID key and a data key at least: \(held.body)")

        let addArguments = ["keys", "add-recovery", "--vault", server.url, "--keystore", "keys", "--kek", "main",
                            "--recovery-keystore", "offline", "--recovery-kek", "rescue"]
        let refused = try setup.run("tresor", addArguments, token: setup.tokens["backup"]!, passphrase: both)
        #expect(refused.status != 0 && refused.stderr.contains("error[auth.forbidden]"), "\(refused.stderr)")
        let added = try setup.run("tresor", addArguments, token: setup.tokens["admin"]!, passphrase: both)
        #expect(added.status == 0 && added.stdout.contains("\(wrapCount) key wraps written"), "\(added.stdout) \(added.stderr)")

        let rotated = try setup.run("tresor", ["keys", "rotate", "--vault", server.url, "--keystore", "keys", "--kek", "main", "--json"],
                                    token: setup.tokens["admin"]!, passphrase: self.passphrase)
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(rotated.stdout.utf8)) as! [String: Any]
        #expect(summary["rewrapped"] as? Int == wrapCount && summary["deleted"] as? Int == wrapCount, "\(rotated.stdout)")
        let bek = try setup.run("tresor", ["keys", "rotate", "--bek", "--vm", "web", "--vault", server.url, "--keystore", "keys", "--kek", "main"],
                                token: setup.tokens["admin"]!, passphrase: self.passphrase)
        #expect(bek.status == 0 && bek.stdout.contains("new data key"), "\(bek.stderr)")

        // A backup after the rotations seals under the new data key; both the rotated KEK and the recovery
        // KEK alone restore it, and the first point too.
        try TestImages.scribble(setup.dir.file("os.img"), blocks: 2, seed: 41)
        #expect(try self.backup(setup, server.url, token: setup.tokens["backup"]!).status == 0)
        for (store, kek, secrets) in [("keys", "main", self.passphrase), ("offline", "rescue", ["TRESOR_PASSPHRASE": "recovery passphrase"])] {
            let restored = try setup.run("tresor-restore", ["disk", "--vault", server.url, "--vm", "web", "--disk", "0", "--output", "\(kek).img",
                                                            "--keystore", store, "--kek", kek],
                                         token: setup.tokens["restore"]!, passphrase: secrets)
            #expect(restored.status == 0, "\(kek): \(restored.stderr)")
            #expect(TestImages.equal(setup.dir.file("\(kek).img"), setup.dir.file("os.img")), "restored with \(kek)")
        }
        let audit = try setup.run("tresor-vault", ["audit", "vault"], token: nil)
        #expect(audit.stdout.contains("wraps.delete") && audit.stdout.contains("keys.last_wrap"), "\(audit.stdout)")
        #expect(server.stop() == 0)
    }

    @Test func garbageCollectionRunsBesideBackupsAndRestoresAndPurgesOnlyUnleasedPointsPastTheirPeriod() throws {
        let setup = try Setup(passphrase: self.passphrase)
        var server = try ServedVault(directory: setup.dir.file("vault"))
        let admin = setup.tokens["admin"]!
        #expect(try self.backup(setup, server.url, token: admin).status == 0)
        try TestImages.scribble(setup.dir.file("os.img"), blocks: 4, seed: 51)
        // Whole chunks, so the ones replaced become garbage with the first point (deltas would keep them).
        #expect(try self.backup(setup, server.url, token: admin, extra: ["--no-deltas"]).status == 0)
        let list = try setup.run("tresor", ["list", "--vault", server.url, "--vm", "web", "--json"], token: admin)
        let ids = (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]).map { $0["id"] as! String }
        #expect(ids.count == 2)
        let (first, second) = (ids[0], ids[1])

        // Only admins delete; a backup token (a VM's own) cannot destroy its backups.
        let byBackup = try RawHTTP.call("DELETE", server.url + "/v1/recovery-points/\(first)", token: setup.tokens["backup"]!, directory: setup.dir.path)
        #expect(byBackup.status == 403)
        let deleted = try setup.run("tresor", ["recovery-point", "delete", "--vault", server.url, first], token: admin)
        #expect(deleted.status == 0 && deleted.stdout.contains("deleted, purged after"), "\(deleted.stderr)")

        // Collections run again and again while other backups and restores run: all of them succeed.
        try TestImages.write(setup.dir.file("db.img"), size: 12 << 20, seed: 52)
        let environment = self.passphrase.merging(["TRESOR_TOKEN": admin]) { $1 }
        var workers: [Process] = []
        for i in 0..<3 {
            workers.append(try Programs.start("tresor", ["backup", "--vault", server.url, "--vm", "db\(i)", "--disk", "db.img",
                                                         "--keystore", "keys", "--kek", "main"], environment: environment, directory: setup.dir.path).0)
            workers.append(try Programs.start("tresor-restore", ["disk", "--vault", server.url, "--vm", "web", "--disk", "0", "--output", "r\(i).img",
                                                                 "--keystore", "keys", "--kek", "main"], environment: environment, directory: setup.dir.path).0)
        }
        var collections = 0
        while workers.contains(where: \.isRunning) || collections < 3 {
            let gc = try setup.run("tresor", ["gc", "--vault", server.url, "--json"], token: admin)
            #expect(gc.status == 0, "\(gc.stderr)")
            collections += 1
        }
        for worker in workers {
            worker.waitUntilExit()
            #expect(worker.terminationStatus == 0)
        }
        for i in 0..<3 { #expect(TestImages.equal(setup.dir.file("r\(i).img"), setup.dir.file("os.img"))) }
        let leases = try RawHTTP.call("GET", server.url + "/v1/leases", token: admin, directory: setup.dir.path)
        #expect(leases.status == 200 && leases.body.hasPrefix("[]"), "every restore released its lease: \(leases.body)")
        #expect(server.stop() == 0)

        // Fifteen days later (the vault's clock, set at start-up) the deleted point may go, unless leased.
        server = try ServedVault(directory: setup.dir.file("vault"), environment: ["TRESOR_CLOCK_OFFSET": "15d"])
        let lease = try RawHTTP.call("POST", server.url + "/v1/leases", token: setup.tokens["restore"]!,
                                     headers: ["Content-Type: application/json"], body: Data("{\"recoveryPoints\":[\"\(first)\"]}".utf8),
                                     directory: setup.dir.path)
        #expect(lease.status == 201, "\(lease.body)")
        let leaseID = try #require((try JSONSerialization.jsonObject(with: Data(lease.body.utf8)) as? [String: Any])?["id"] as? String)
        let held = try setup.run("tresor", ["gc", "--vault", server.url, "--json"], token: admin)
        let heldReport = try JSONSerialization.jsonObject(with: Data(held.stdout.utf8)) as! [String: Any]
        #expect(heldReport["recoveryPointsHeld"] as? [String] == [first] && (heldReport["recoveryPointsPurged"] as? [String])?.isEmpty == true,
                "\(held.stdout) \(held.stderr)")
        #expect(try RawHTTP.call("DELETE", server.url + "/v1/leases/\(leaseID)", token: setup.tokens["restore"]!, directory: setup.dir.path).status == 204)
        let purged = try setup.run("tresor", ["gc", "--vault", server.url, "--json"], token: admin)
        let purgedReport = try JSONSerialization.jsonObject(with: Data(purged.stdout.utf8)) as! [String: Any]
        #expect(purgedReport["recoveryPointsPurged"] as? [String] == [first] && (purgedReport["chunksDeleted"] as? Int ?? 0) > 0,
                "\(purged.stdout)")
        let remaining = try setup.run("tresor", ["list", "--vault", server.url, "--vm", "web", "--json"], token: admin)
        #expect(!remaining.stdout.contains(first) && remaining.stdout.contains(second))
        let verify = try setup.run("tresor", ["verify", "--vault", server.url, "--read-data", "--keystore", "keys", "--kek", "main"],
                                   token: setup.tokens["restore"]!, passphrase: self.passphrase)
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        let audit = try setup.run("tresor-vault", ["audit", "vault"], token: nil)
        #expect(audit.stdout.contains("recovery_point.delete") && audit.stdout.contains("gc"))
        #expect(server.stop() == 0)
    }

    @Test func policiesAreReadByStatusRolesAndChangedByAdminsOnlyAndVMsAreProtectedUnderThem() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        let listed = try setup.run("tresor", ["policy", "list", "--vault", server.url, "--json"], token: setup.tokens["reader"]!)
        let names = (try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as! [[String: Any]]).map { ($0["policy"] as! [String: Any])["name"] as! String }
        #expect(names == ["DefaultPolicy"], "every vault has the default policy: \(listed.stderr)")
        let create = ["policy", "create", "gfs", "--vault", server.url, "--zone", "Europe/Berlin", "--daily-at", "22:00",
                      "--keep-days", "30", "--keep-weeks", "12", "--keep-months", "12", "--monthly-on", "last sunday"]
        let refused = try setup.run("tresor", create, token: setup.tokens["backup"]!)
        #expect(refused.status != 0 && refused.stderr.contains("error[auth.forbidden]"))
        let made = try setup.run("tresor", create, token: setup.tokens["admin"]!)
        #expect(made.status == 0 && made.stdout.contains("monthly (last sunday) 12 mo"), "\(made.stderr)")
        let twice = try setup.run("tresor", create, token: setup.tokens["admin"]!)
        #expect(twice.status != 0 && twice.stderr.contains("error[policy.exists]"))
        let invalid = try setup.run("tresor", ["policy", "update", "gfs", "--vault", server.url, "--keep-days", "3"], token: setup.tokens["admin"]!)
        #expect(invalid.status != 0 && invalid.stderr.contains("7 to 9999 days"))
        let mismatch = try RawHTTP.call("PUT", server.url + "/v1/policies/gfs", token: setup.tokens["admin"]!, headers: ["Content-Type: application/json"],
                                        body: Data(#"{"name":"other","timeZone":"UTC","schedule":{"frequency":"daily","times":["02:00"],"weekdays":[]},"retention":{"daily":{"days":30}},"instantRestoreDays":2}"#.utf8),
                                        directory: setup.dir.path)
        #expect(mismatch.status == 400)
        let shown = try setup.run("tresor", ["policy", "show", "gfs", "--vault", server.url], token: setup.tokens["restore"]!)
        #expect(shown.stdout.contains("policy gfs (Europe/Berlin): daily at 22:00"), "\(shown.stderr)")
        // Protecting the VM under it, over HTTP; the listing shows state and policy.
        #expect(try self.backup(setup, server.url, token: setup.tokens["backup"]!).status == 0)
        let protect = try setup.run("tresor", ["vm", "protect", "--vault", server.url, "--vm", "web", "--policy", "gfs"], token: setup.tokens["admin"]!)
        #expect(protect.status == 0 && protect.stdout.contains("web@"), "\(protect.stderr)")
        #expect(protect.stdout.contains(": completed, protected under gfs"), "\(protect.stdout)")
        let vms = try setup.run("tresor", ["vm", "list", "--vault", server.url], token: setup.tokens["reader"]!)
        #expect(vms.stdout.contains("web") && vms.stdout.contains("protected") && vms.stdout.contains("gfs"), "\(vms.stdout) \(vms.stderr)")
        let stop = try setup.run("tresor", ["vm", "stop-protection", "--vault", server.url, "--vm", "web", "--retain-data"], token: setup.tokens["admin"]!)
        #expect(stop.status == 0 && stop.stdout.contains("protection stopped (data retained)"), "\(stop.stderr)")
        #expect(server.stop() == 0)
        // The store holds it: the vault directory answers the same without the server.
        let local = try setup.run("tresor", ["policy", "show", "gfs", "--vault", "vault", "--json"], token: nil)
        #expect(local.status == 0 && local.stdout.contains("Europe/Berlin"))
        let audit = try setup.run("tresor-vault", ["audit", "vault"], token: nil)
        #expect(audit.stdout.contains("policy.create"))
    }

    @Test func eachRoleMayDoWhatItIsForAndNothingElse() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        #expect(try self.backup(setup, server.url, token: setup.tokens["admin"]!).status == 0)

        func failure(_ result: Programs.Result) -> String {
            result.status == 0 ? "succeeded" : String(result.stderr.split(separator: "]").first ?? "").components(separatedBy: "error[").last ?? ""
        }
        // Backup tokens back up (a VM-limited one only its VM) but neither list nor restore.
        #expect(failure(try self.backup(setup, server.url, vm: "db", token: setup.tokens["backup-web"]!)) == "auth.forbidden")
        #expect(failure(try self.backup(setup, server.url, token: setup.tokens["reader"]!)) == "auth.forbidden")
        #expect(failure(try self.backup(setup, server.url, token: setup.tokens["restore"]!)) == "auth.forbidden")
        let restoreArguments = ["disk", "--vault", server.url, "--vm", "web", "--disk", "0", "--output", "r.img", "--keystore", "keys", "--kek", "main"]
        #expect(failure(try setup.run("tresor-restore", restoreArguments, token: setup.tokens["backup"]!, passphrase: self.passphrase)) == "auth.forbidden")
        #expect(failure(try setup.run("tresor-restore", restoreArguments, token: setup.tokens["reader"]!, passphrase: self.passphrase)) == "auth.forbidden")
        #expect(failure(try setup.run("tresor-restore", restoreArguments, token: setup.tokens["restore"]!, passphrase: self.passphrase)) == "succeeded")
        #expect(failure(try setup.run("tresor", ["list", "--vault", server.url], token: setup.tokens["backup"]!)) == "auth.forbidden")
        #expect(failure(try setup.run("tresor", ["list", "--vault", server.url], token: setup.tokens["reader"]!)) == "succeeded")

        // A restore token limited to another VM neither sees this VM nor reads its objects.
        let otherVM = try setup.token(["--role", "restore", "--vm", "db"])
        #expect(failure(try setup.run("tresor-restore", restoreArguments, token: otherVM, passphrase: self.passphrase)) == "catalog.not_found")
        let webPoints = try setup.run("tresor", ["list", "--vault", server.url, "--vm", "web", "--json"], token: setup.tokens["reader"]!)
        let webPoint = try #require((try JSONSerialization.jsonObject(with: Data(webPoints.stdout.utf8)) as? [[String: Any]])?.first?["id"] as? String)
        let foreign = try RawHTTP.call("GET", server.url + "/v1/objects/manifests/\(webPoint).manifest", token: otherVM, directory: setup.dir.path)
        #expect(foreign.status == 403, "\(foreign.body)")
        let own = try RawHTTP.call("GET", server.url + "/v1/objects/manifests/\(webPoint).manifest", token: setup.tokens["restore"]!,
                                   directory: setup.dir.path)
        #expect(own.status == 200)

        // No token, a made-up one, a revoked one and an expired one: 401 with a code, never the token echoed.
        #expect(failure(try setup.run("tresor", ["list", "--vault", server.url], token: nil)) == "auth.missing_token")
        let madeUp = "tresor_0123456789abcdef_" + String(repeating: "ab", count: 32)
        let wrong = try setup.run("tresor", ["list", "--vault", server.url], token: madeUp)
        #expect(failure(wrong) == "auth.invalid_token" && !wrong.stderr.contains(madeUp))
        let revoked = try setup.token(["--role", "reader"])
        let id = String(revoked.dropFirst("tresor_".count).prefix(16))
        #expect(try setup.run("tresor-vault", ["token", "revoke", "vault", id], token: nil).status == 0)
        #expect(failure(try setup.run("tresor", ["list", "--vault", server.url], token: revoked)) == "auth.invalid_token")
        let expiring = try setup.token(["--role", "reader", "--expires", "1s"])
        Thread.sleep(forTimeInterval: 1.2)
        let expired = try setup.run("tresor", ["list", "--vault", server.url], token: expiring)
        #expect(failure(expired) == "auth.invalid_token" && expired.stderr.contains("expired"))
        let listed = try setup.run("tresor-vault", ["token", "list", "vault", "--json"], token: nil)
        #expect(listed.stdout.contains("\"revoked\"") && listed.stdout.contains("\"expired\"") && !listed.stdout.contains(revoked))

        // The audit log names the calls of revoked tokens (a client's first is a read) and the changes a
        // valid token was refused, with who and why; refused reads of valid tokens and tokens the vault
        // never issued are not in it.
        func tokenID(_ token: String) -> String { String(token.dropFirst("tresor_".count).prefix(16)) }
        let revokedBackup = try setup.token(["--role", "backup"])
        #expect(try setup.run("tresor-vault", ["token", "revoke", "vault", tokenID(revokedBackup)], token: nil).status == 0)
        #expect(failure(try self.backup(setup, server.url, token: revokedBackup)) == "auth.invalid_token")
        #expect(failure(try self.backup(setup, server.url, token: madeUp)) == "auth.invalid_token")
        let audit = try setup.run("tresor-vault", ["audit", "vault", "--json"], token: nil)
        let refusals = (try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: Any]] ?? [])
            .filter { $0["action"] as? String == "refused" }
            .map { "\($0["actor"] ?? "") \($0["role"] ?? "") \($0["target"] ?? "") \($0["result"] ?? "")" }
        #expect(refusals.contains("\(tokenID(setup.tokens["backup-web"]!)) backup POST /v1/sessions auth.forbidden"), "\(refusals)")
        #expect(refusals.contains("\(tokenID(setup.tokens["reader"]!)) reader POST /v1/sessions auth.forbidden"), "\(refusals)")
        #expect(refusals.contains("\(tokenID(revokedBackup)) backup GET /v1/vault with a token revoked auth.invalid_token"), "\(refusals)")
        #expect(refusals.contains("\(tokenID(revoked)) reader GET /v1/vault with a token revoked auth.invalid_token"), "\(refusals)")
        #expect(refusals.contains("\(tokenID(expiring)) reader GET /v1/vault with a token expired auth.invalid_token"), "\(refusals)")
        #expect(!refusals.contains { ($0.contains(" GET ") || $0.contains(" HEAD ")) && $0.hasSuffix("auth.forbidden") }, "\(refusals)")
        #expect(!refusals.contains { $0.hasPrefix(tokenID(madeUp)) }, "\(refusals)")
        #expect(!audit.stdout.contains(revokedBackup) && !audit.stdout.contains(madeUp), "the audit log never holds a token")

        // The same answers as raw HTTP: status and JSON error code.
        let raw = try RawHTTP.call("GET", server.url + "/v1/objects/manifests", token: setup.tokens["backup"]!, directory: setup.dir.path)
        #expect(raw.status == 403 && raw.body.contains("\"code\":\"auth.forbidden\""))
        #expect(try RawHTTP.call("GET", server.url + "/v1/vault", token: nil, directory: setup.dir.path).status == 401)
        #expect(try RawHTTP.call("GET", server.url + "/healthz", token: nil, directory: setup.dir.path).status == 200)
    }

    /// `POST /v1/chunk-reads`, which restores use: the stored objects, byte for byte, in the order asked,
    /// to the roles and VMs that may read them one by one, and a 4xx for every ask out of bounds.
    @Test func chunkReadsAnswerStoredObjectsUnderTheRulesOfSingleReads() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        #expect(try self.backup(setup, server.url, token: setup.tokens["admin"]!).status == 0)
        let domains = setup.dir.file("vault/store/domains")
        let domain = try #require(try FileManager.default.contentsOfDirectory(atPath: domains).first)
        let chunkFiles = try #require(FileManager.default.enumerator(atPath: domains + "/" + domain + "/chunks")?.allObjects as? [String])
            .filter { $0.count > 3 }.sorted()
        try #require(chunkFiles.count >= 3)
        let ids = [chunkFiles[2], chunkFiles[0], chunkFiles[1]].map { String($0.split(separator: "/").last!) }

        func ask(_ ids: [String], domain: String = domain, token: String, route: String = "chunk-reads") throws -> (status: Int, body: [UInt8]) {
            let request = try JSONSerialization.data(withJSONObject: ["domain": domain, "ids": ids])
            try request.write(to: URL(fileURLWithPath: setup.dir.file("ask.json")))
            let output = setup.dir.file("answer.bin")
            let status = try Programs.runSystemCapturing("/usr/bin/curl", [
                "-s", "-S", "--max-time", "30", "-o", output, "-w", "%{http_code}", "-X", "POST",
                "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json",
                "--data-binary", "@ask.json", server.url + "/v1/" + route], environment: [:], directory: setup.dir.path)
            return (Int(status) ?? 0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: output))))
        }

        // Several asks in different orders, so that later answers are built in memory earlier ones used.
        for order in [ids, ids.reversed(), [ids[1], ids[2], ids[0]], ids] {
            let answer = try ask(order, token: setup.tokens["restore"]!)
            #expect(answer.status == 200)
            let ranges = try answer.body.withUnsafeBytes { try ChunkReadBatch.ranges(in: $0, count: order.count) }
            for (id, range) in zip(order, ranges) {
                let stored = try Data(contentsOf: URL(fileURLWithPath: "\(domains)/\(domain)/chunks/\(id.prefix(2))/\(id)"))
                #expect(Array(answer.body[range]) == [UInt8](stored))
            }
            // Between the table and the objects, and between objects, only zeros: nothing of an earlier answer.
            var gapStart = 12 + 4 * order.count
            for range in ranges {
                #expect(answer.body[gapStart..<range.lowerBound].allSatisfy { $0 == 0 })
                gapStart = range.upperBound
            }
        }

        // Who may not read objects one by one may not read them this way either.
        #expect(try ask(ids, token: setup.tokens["backup"]!).status == 403)
        #expect(try ask(ids, token: setup.tokens["reader"]!).status == 403)
        #expect(try ask(ids, token: try setup.token(["--role", "restore", "--vm", "db"])).status == 403)
        #expect(try ask(ids, token: try setup.token(["--role", "restore", "--vm", "web"])).status == 200)

        let missing = try ask([ids[0], String(repeating: "ab", count: 32)], token: setup.tokens["restore"]!)
        #expect(missing.status == 404 && String(decoding: missing.body, as: UTF8.self).contains(String(repeating: "ab", count: 32)))
        // More than one answer carries (the largest object asked for 16 times): 413, the server's memory per answer stays bounded.
        let largest = try #require(try chunkFiles.max { a, b in
            let size = { (path: String) throws -> Int in
                (try FileManager.default.attributesOfItem(atPath: "\(domains)/\(domain)/chunks/\(path)")[.size] as? Int) ?? 0
            }
            return try size(a) < size(b)
        })
        let largestSize = try #require(try FileManager.default.attributesOfItem(atPath: "\(domains)/\(domain)/chunks/\(largest)")[.size] as? Int)
        try #require(ChunkReadBatch.layout(lengths: Array(repeating: largestSize, count: 16)) == nil)
        let tooMuch = try ask(Array(repeating: String(largest.split(separator: "/").last!), count: 16), token: setup.tokens["restore"]!)
        #expect(tooMuch.status == 413 && String(decoding: tooMuch.body, as: UTF8.self).contains("request.too_large"))
        #expect(try ask([], token: setup.tokens["restore"]!).status == 400)
        #expect(try ask(Array(repeating: ids[0], count: ChunkReadBatch.maximumEntries + 1), token: setup.tokens["restore"]!).status == 400)
        #expect(try ask(["../../tresor-vault.json"], token: setup.tokens["restore"]!).status == 400)
        #expect(try ask(ids, domain: "../store", token: setup.tokens["restore"]!).status == 400)

        // Sizes, many per request, under the same rules: each object's size, null for one not stored.
        let unknown = String(repeating: "cd", count: 32)
        let sized = try ask(ids + [unknown], token: setup.tokens["restore"]!, route: "chunk-sizes")
        #expect(sized.status == 200)
        let sizes = try #require((try JSONSerialization.jsonObject(with: Data(sized.body)) as? [String: Any])?["sizes"] as? [Any])
        #expect(sizes.count == 4 && sizes[3] is NSNull)
        for (id, size) in zip(ids, sizes) {
            let stored = try FileManager.default.attributesOfItem(atPath: "\(domains)/\(domain)/chunks/\(id.prefix(2))/\(id)")[.size] as? Int
            #expect(size as? Int == stored)
        }
        #expect(try ask(ids, token: setup.tokens["backup"]!, route: "chunk-sizes").status == 403)
        #expect(try ask(ids, token: setup.tokens["reader"]!, route: "chunk-sizes").status == 403)
        #expect(try ask(ids, token: try setup.token(["--role", "restore", "--vm", "db"]), route: "chunk-sizes").status == 403)
        #expect(try ask([], token: setup.tokens["restore"]!, route: "chunk-sizes").status == 400)
        #expect(try ask(Array(repeating: ids[0], count: ChunkSizesResponse.maximumIDs + 1), token: setup.tokens["restore"]!, route: "chunk-sizes").status == 400)
        #expect(try ask(ids, domain: "../store", token: setup.tokens["restore"]!, route: "chunk-sizes").status == 400)

        // A restore that meets a missing chunk stops with one line naming it and leaves no output.
        let moved = setup.dir.file("moved.chunk")
        let path = "\(domains)/\(domain)/chunks/\(chunkFiles[1])"
        try FileManager.default.moveItem(atPath: path, toPath: moved)
        let vmRestore = ["vm", "--vault", server.url, "--vm", "web", "--output-dir", "again", "--keystore", "keys", "--kek", "main"]
        let broken = try setup.run("tresor-restore", vmRestore, token: setup.tokens["restore"]!, passphrase: self.passphrase)
        #expect(broken.status != 0 && broken.stderr.contains("object.missing") && broken.stderr.contains(ids[2]), "\(broken.stderr)")
        #expect(!FileManager.default.fileExists(atPath: setup.dir.file("again/disk-0-os.img"))
                && !FileManager.default.fileExists(atPath: setup.dir.file("again/disk-1-data.img")))
        try FileManager.default.moveItem(atPath: moved, toPath: path)
        let whole = try setup.run("tresor-restore", vmRestore, token: setup.tokens["restore"]!, passphrase: self.passphrase)
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(TestImages.equal(setup.dir.file("again/disk-0-os.img"), setup.dir.file("os.img")))
        #expect(TestImages.equal(setup.dir.file("again/disk-1-data.img"), setup.dir.file("data.img")))
    }

    @Test func malformedRequestsGetA4xxAndStoreNothing() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        let admin = setup.tokens["admin"]!
        let dir = setup.dir.path
        func call(_ method: String, _ path: String, _ headers: [String] = [], _ body: Data? = nil) throws -> RawHTTP.Reply {
            try RawHTTP.call(method, server.url + path, token: admin, headers: headers, body: body, directory: dir)
        }
        let json = "Content-Type: application/json"
        let opening = Data(#"{"vmName":"web","host":"h1","diskSources":["/d0"],"nowMillis":1}"#.utf8)
        let opened = try call("POST", "/v1/sessions", [json], opening)
        #expect(opened.status == 201, "\(opened.body)")
        let session = (try JSONSerialization.jsonObject(with: Data(opened.body.utf8)) as! [String: Any])["id"] as! String

        // A second backup of the same VM is refused with the seed's wording.
        let busy = try call("POST", "/v1/sessions", [json], opening)
        #expect(busy.status == 409 && busy.body.contains("another operation is in progress for this item"))

        #expect(try call("POST", "/v1/sessions", ["Content-Type: text/plain"], opening).status == 400)
        #expect(try call("POST", "/v1/sessions", [json], Data("{\"vmName\":".utf8)).status == 400)
        #expect(try call("POST", "/v1/sessions", [json], Data("[1,2]".utf8)).status == 400)
        #expect(try call("GET", "/v1/objects/../tresor-vault.json").status == 400)
        #expect(try call("GET", "/v1/objects/domains/%2e%2e/x").status == 400)
        #expect(try call("GET", "/v1/objects/manifests/none.manifest").status == 404)
        #expect(try call("GET", "/v1/recovery-points/..%2f..%2fetc").status == 404)

        let octets = "Content-Type: application/octet-stream"
        let chunkID = String(repeating: "ab", count: 32)
        let junk = Data(repeating: 7, count: 1000)
        let noSum = try call("PUT", "/v1/sessions/\(session)/chunks/\(chunkID)", [octets], junk)
        #expect(noSum.status == 400 && noSum.body.contains("x-tresor-crc32c"))
        let wrongSum = try call("PUT", "/v1/sessions/\(session)/chunks/\(chunkID)", [octets, "x-tresor-crc32c: 00000000"], junk)
        #expect(wrongSum.status == 400 && wrongSum.body.contains("damaged in transit"))
        let notAChunk = try call("PUT", "/v1/sessions/\(session)/chunks/\(chunkID)", [octets, "x-tresor-crc32c: \(crc32c(junk))"], junk)
        #expect(notAChunk.status == 400 && notAChunk.body.contains("object.corrupt"), "\(notAChunk.body)")
        let huge = Data(repeating: 1, count: 5 << 20)
        #expect(try call("PUT", "/v1/sessions/\(session)/chunks/\(chunkID)", [octets, "x-tresor-crc32c: \(crc32c(huge))"], huge).status == 413)
        // Without a Content-Length (chunked transfer) the limit still holds while the body arrives.
        let chunked = "Transfer-Encoding: chunked"
        #expect(try call("PUT", "/v1/sessions/\(session)/chunks/\(chunkID)", [octets, chunked, "x-tresor-crc32c: \(crc32c(huge))"], huge).status == 413)
        let smallChunked = try call("PUT", "/v1/sessions/\(session)/chunks/\(chunkID)", [octets, chunked, "x-tresor-crc32c: \(crc32c(junk))"], junk)
        #expect(smallChunked.status == 400 && smallChunked.body.contains("object.corrupt"), "\(smallChunked.body)")
        #expect(try call("PUT", "/v1/sessions/\(session)/chunks/not-hex", [octets], junk).status == 400)

        // Chunk batches: the framing is checked whole before anything is stored.
        func batch(_ entries: [(Data, Data)], count: UInt32? = nil, version: UInt8 = 1) -> Data {
            var body = Data("TRCB".utf8) + Data([version, 0, 0, 0])
            withUnsafeBytes(of: (count ?? UInt32(entries.count)).littleEndian) { body.append(contentsOf: $0) }
            for (id, object) in entries {
                body += id
                withUnsafeBytes(of: UInt32(object.count).littleEndian) { body.append(contentsOf: $0) }
                body += object
            }
            return body
        }
        func postBatch(_ body: Data) throws -> RawHTTP.Reply {
            try call("POST", "/v1/sessions/\(session)/chunks", [octets, "x-tresor-crc32c: \(crc32c(body))"], body)
        }
        let id = Data(repeating: 0xab, count: 32)
        let cutShort = batch([(id, junk)]).dropLast(10)
        #expect(try postBatch(Data(cutShort)).status == 400)
        let trailing = batch([(id, junk)]) + Data([1, 2, 3])
        #expect(try postBatch(trailing).body.contains("after the last entry"))
        #expect(try postBatch(batch([(id, junk)], count: 2)).status == 400)
        #expect(try postBatch(batch([], count: 0)).status == 400)
        #expect(try postBatch(batch([(id, junk)], count: 65)).status == 400)
        #expect(try postBatch(batch([(id, junk)], version: 9)).body.contains("format.unsupported_version"))
        let badObject = try postBatch(batch([(id, junk)]))
        #expect(badObject.status == 400 && badObject.body.contains("object.corrupt"), "\(badObject.body)")
        #expect(try call("POST", "/v1/sessions/\(session)/chunks", [octets], batch([(id, junk)])).status == 400)
        #expect(try call("PUT", "/v1/sessions/no-such-session/chunks/\(chunkID)", [octets], junk).status == 404)
        // A rejected commit ends the session: its client starts again and reuses what the vault holds.
        #expect(try call("POST", "/v1/sessions/\(session)/commit", [octets, "x-tresor-crc32c: \(crc32c(junk))"], junk).status == 400)
        let ended = try call("DELETE", "/v1/sessions/\(session)")
        #expect(ended.status == 404 && ended.body.contains("session.not_found"))

        // Nothing of it reached the store.
        let chunks = try FileManager.default.subpathsOfDirectory(atPath: setup.dir.file("vault/store")).filter { $0.contains("/chunks/") }
        #expect(chunks.allSatisfy { !$0.hasSuffix(chunkID) })
        #expect(server.stop() == 0)
    }

    /// A vault address with a path (or a client newer than its vault) reaches routes the server does not
    /// serve. Both that and an absent object answer 404; the client must tell them apart.
    @Test func aRouteTheServerDoesNotServeIsNamedAndNeverTakenForAMissingObject() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        let admin = setup.tokens["admin"]!
        let unknown = try RawHTTP.call("GET", server.url + "/v1/no-such-route", token: admin, directory: setup.dir.path)
        #expect(unknown.status == 404 && unknown.body.contains("request.unknown_route"), "\(unknown)")
        let absent = try RawHTTP.call("GET", server.url + "/v1/objects/manifests/none.manifest", token: admin, directory: setup.dir.path)
        #expect(absent.status == 404 && !absent.body.contains("request.unknown_route"), "\(absent)")

        let listed = try setup.run("tresor", ["list", "--vault", server.url + "/tresor"], token: admin)
        #expect(listed.status == 1 && listed.stderr.contains("error[request.unknown_route]") && listed.stderr.contains("without a path"),
                "\(listed.stderr)")

        // The object store's reads allow a 404 for an absent object, and only for that.
        let backedUp = try self.backup(setup, server.url, token: admin)
        #expect(backedUp.status == 0, "\(backedUp.stderr)")
        let manifest = try #require(try RemoteObjectStore(connection: VaultConnection(url: server.url, token: admin)).list(folder: "manifests").first)
        let misplaced = RemoteObjectStore(connection: try VaultConnection(url: server.url + "/tresor", token: admin))
        for read in [{ _ = try misplaced.get(manifest) }, { _ = try misplaced.size(of: manifest) }] {
            #expect { try read() } throws: { ($0 as? TresorError)?.code == .unknownRoute }
        }
        let store = RemoteObjectStore(connection: try VaultConnection(url: server.url, token: admin))
        #expect(try store.size(of: manifest) != nil)
        let gone = try #require(ObjectKey(listedPath: "manifests/none.manifest"))
        #expect(try store.size(of: gone) == nil)
        #expect { _ = try store.get(gone) } throws: { ($0 as? TresorError)?.code == .missingObject }
        #expect(server.stop() == 0)
    }

    @Test func aLocalWriterTurnedAwayByTheServerIsToldItsURL() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        let refused = try self.backup(setup, "vault", token: nil)
        #expect(refused.status == 1 && refused.stderr.contains("error[vault.busy]") && refused.stderr.contains("--vault \(server.url)"),
                "\(refused.stderr)")
        #expect(server.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: setup.dir.file("vault/serving.json")), "a stopped server leaves no record")
        // A killed server leaves its record behind; it names a process that is gone, and nothing heeds it.
        let killed = try ServedVault(directory: setup.dir.file("vault"))
        killed.kill9()
        #expect(FileManager.default.fileExists(atPath: setup.dir.file("vault/serving.json")))
        let local = try self.backup(setup, "vault", token: nil)
        #expect(local.status == 0, "\(local.stderr)")
    }

    @Test func anAddressInUseIsRefusedWithOneLine() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        #expect(try Programs.run("tresor-vault", ["init", "second"], directory: setup.dir.path).status == 0)
        let address = server.url.replacingOccurrences(of: "http://", with: "")
        let second = try Programs.run("tresor-vault", ["serve", "second", "--listen", address], directory: setup.dir.path)
        #expect(second.status == 1 && second.stderr.hasPrefix("tresor-vault: error[network.listen_failed]: cannot listen on \(address)")
                && second.stderr.split(separator: "\n").count == 1, "\(second.stderr)")
        #expect(server.stop() == 0)
    }

    /// A server stopped with SIGTERM says so in its log as it begins and once it is done; a client whose
    /// vault is not running then says so in one line, with the system's reason in plain words rather than
    /// NIO's account of the failed call, and a host name that does not exist is said at once.
    @Test func aVaultThatIsNotRunningIsNamedWithTheReason() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let server = try ServedVault(directory: setup.dir.file("vault"))
        #expect(server.stop() == 0)
        let log = server.standardError
        #expect(log.contains("stopping: refusing new connections, letting running requests finish") && log.hasSuffix("stopped\n"), "\(log)")
        let listed = try setup.run("tresor", ["list", "--vault", server.url], token: setup.tokens["admin"])
        #expect(listed.status == 1 && listed.stderr.split(separator: "\n").count == 1, "\(listed.stderr)")
        #expect(listed.stderr.hasPrefix("tresor: error[network.unreachable]: the vault at \(server.url) did not answer GET /v1/vault after 6 attempts (last: connection refused)"),
                "\(listed.stderr)")
        #expect(!listed.stderr.contains("errno"), "\(listed.stderr)")

        // A host name the resolver says does not exist is not retried; one it could not look up for now is.
        let started = ContinuousClock.now
        let unknown = try setup.run("tresor", ["list", "--vault", "https://nosuch.invalid:8300"], token: setup.tokens["admin"])
        let waited = ContinuousClock.now - started
        #expect(unknown.status == 1 && unknown.stderr.split(separator: "\n").count == 1, "\(unknown.stderr)")
        if unknown.stderr.contains("does not resolve") {
            #expect(unknown.stderr.hasPrefix("tresor: error[network.unreachable]: the vault at https://nosuch.invalid:8300 cannot be reached: nosuch.invalid does not resolve (name or service not known)"),
                    "\(unknown.stderr)")
            #expect(waited < .seconds(2), "no retries with their backoff: \(waited)")
        } else {
            #expect(unknown.stderr.contains("after 6 attempts (last: "), "\(unknown.stderr)")
        }
    }

    /// Plain HTTP listens on loopback only, as clients send it (the IPv6 loopback in brackets included);
    /// elsewhere the server needs TLS. With TLS, a name that does not resolve is said as such.
    @Test func plainHTTPListensOnLoopbackOnly() throws {
        let setup = try Setup(passphrase: self.passphrase)
        for address in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8300"] {
            let refused = try Programs.run("tresor-vault", ["serve", "vault", "--listen", address], directory: setup.dir.path)
            #expect(refused.status == 1 && refused.stderr.split(separator: "\n").count == 1
                    && refused.stderr.hasPrefix("tresor-vault: error[usage.invalid_argument]: plain HTTP listens on loopback only, not on \(address)"),
                    "\(address): \(refused.stderr)")
        }
        _ = try Programs.runSystemCapturing("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem",
            "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost",
        ], environment: [:], directory: setup.dir.path)
        let unresolved = try Programs.run("tresor-vault", ["serve", "vault", "--listen", "nosuch.invalid:8300", "--tls-cert", "cert.pem",
                                                           "--tls-key", "key.pem"], directory: setup.dir.path)
        #expect(unresolved.status == 1 && unresolved.stderr.split(separator: "\n").count == 1
                && unresolved.stderr.hasPrefix("tresor-vault: error[network.listen_failed]: cannot listen on nosuch.invalid:8300"),
                "\(unresolved.stderr)")
        // All of 127.0.0.0/8 is loopback, to the server and to the client alike; so is ::1, where this
        // machine has an IPv6 loopback: a server listens there and a client reaches it by the URL it printed.
        var loopbacks = ["127.0.0.2:0"]
        if (try? String(contentsOfFile: "/proc/net/if_inet6", encoding: .utf8))?.contains("00000000000000000000000000000001") == true {
            loopbacks.append("[::1]:0")
        }
        for address in loopbacks {
            let server = try ServedVault(directory: setup.dir.file("vault"), extraArguments: ["--listen", address])
            #expect(server.url.hasPrefix("http://" + address.dropLast(2)), "\(server.url)")
            let list = try setup.run("tresor", ["list", "--vault", server.url], token: setup.tokens["reader"]!)
            #expect(list.status == 0, "\(address): \(list.stderr)")
            #expect(server.stop() == 0)
        }
    }

    @Test func aServerKilledAmidTwentyUploadsCommitsAllOrNothingPerBackupAndTheRerunsSucceed() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let count = 20
        for i in 1...count { try TestImages.write(setup.dir.file("vm\(i).img"), size: 16 << 20, seed: UInt64(400 + i)) }
        var server = try ServedVault(directory: setup.dir.file("vault"))
        let environment = self.passphrase.merging(["TRESOR_TOKEN": setup.tokens["admin"]!]) { $1 }
        let clients = try (1...count).map { i in
            try Programs.start("tresor", ["backup", "--vault", server.url, "--vm", "vm\(i)", "--disk", "vm\(i).img",
                                          "--keystore", "keys", "--kek", "main"], environment: environment, directory: setup.dir.path).0
        }
        // Kill the server once uploads are under way, before most backups could commit.
        let chunks = setup.dir.file("vault/store/domains")
        let deadline = Date().addingTimeInterval(60)
        while Self.countChunks(chunks) < 40, Date() < deadline, clients.contains(where: \.isRunning) { Thread.sleep(forTimeInterval: 0.01) }
        server.kill9()
        for client in clients { client.waitUntilExit() }
        let succeeded = Set((1...count).filter { clients[$0 - 1].terminationStatus == 0 }.map { "vm\($0)" })
        #expect(succeeded.count < count, "the server died before every backup finished")

        server = try ServedVault(directory: setup.dir.file("vault"))
        let list = try setup.run("tresor", ["list", "--vault", server.url, "--json"], token: setup.tokens["admin"]!)
        let points = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]
        // Every backup that reported success has its point. A commit made durable just before the kill may
        // have lost its answer: that client failed, yet its point is whole (verify below reads it all).
        let committed = Set(points.compactMap { $0["vmName"] as? String })
        #expect(succeeded.isSubset(of: committed), "every backup that reported success has a recovery point")
        var adopted = 0
        for i in 1...count where !succeeded.contains("vm\(i)") {
            let rerun = try setup.run("tresor", ["backup", "--vault", server.url, "--vm", "vm\(i)", "--disk", "vm\(i).img",
                                                 "--keystore", "keys", "--kek", "main", "--json"], token: setup.tokens["admin"]!,
                                      passphrase: self.passphrase)
            #expect(rerun.status == 0, "vm\(i): \(rerun.stderr)")
            let stats = (try? JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8))) as? [String: Any]
            adopted += stats?["chunksReused"] as? Int ?? 0
        }
        #expect(adopted > 0, "the reruns upload nothing the killed backups had stored")
        #expect(server.stop() == 0)
        let verify = try setup.run("tresor", ["verify", "--vault", "vault", "--read-data", "--keystore", "keys", "--kek", "main", "--json"],
                                   token: nil, passphrase: self.passphrase)
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as! [String: Any]
        #expect(report["recoveryPoints"] as? Int == count + committed.count - succeeded.count)
    }

    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
    func aFullVaultDiskAnswers507EndsTheSessionAndKeepsEarlierPoints() throws {
        let setup = try Setup(passphrase: self.passphrase)
        let mountPoint = setup.dir.file("small-fs")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        #expect(try Programs.runSystem("/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint]) == 0)
        defer { _ = try? Programs.runSystem("/bin/umount", ["-l", mountPoint]) }
        #expect(try Programs.run("tresor-vault", ["init", mountPoint + "/vault"], directory: setup.dir.path).status == 0)
        let token = try Programs.run("tresor-vault", ["token", "create", mountPoint + "/vault", "--role", "admin"], directory: setup.dir.path)
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var generator = SystemRandomNumberGenerator()
        try Data((0..<(48 << 20) / 8).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } })
            .write(to: URL(fileURLWithPath: setup.dir.file("big.img")))
        let server = try ServedVault(directory: mountPoint + "/vault")
        let base = ["backup", "--vault", server.url, "--keystore", "keys", "--kek", "main"]
        #expect(try setup.run("tresor", base + ["--vm", "small", "--disk", "data.img"], token: token, passphrase: self.passphrase).status == 0)
        let full = try setup.run("tresor", base + ["--vm", "big", "--disk", "big.img"], token: token, passphrase: self.passphrase)
        #expect(full.status == 1 && full.stderr.contains("error[storage.full]"), "\(full.stderr)")
        let summary = try RawHTTP.call("GET", server.url + "/v1/vault", token: token, directory: setup.dir.path)
        #expect(summary.body.contains("\"openSessions\":0"), "the failed session was ended: \(summary.body)")
        let list = try setup.run("tresor", ["list", "--vault", server.url, "--json"], token: token)
        let points = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]
        #expect(points.map { $0["vmName"] as? String } == ["small"])
        let restore = try setup.run("tresor-restore", ["disk", "--vault", server.url, "--vm", "small", "--disk", "0", "--output", "r.img",
                                                       "--keystore", "keys", "--kek", "main"], token: token, passphrase: self.passphrase)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TestImages.equal(setup.dir.file("r.img"), setup.dir.file("data.img")))
        #expect(server.stop() == 0)
    }

    static func countChunks(_ root: String) -> Int {
        ((try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? []).filter { $0.contains("/chunks/") && $0.split(separator: "/").count == 4 }.count
    }
}

private func crc32c(_ data: Data) -> String {
    data.withUnsafeBytes { CRC32C.hex($0) }
}
