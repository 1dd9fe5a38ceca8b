import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine
import TresorKeys

extension Tresor {
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage KEKs: create, list, export a write-only client, add a recovery KEK, rotate.",
            subcommands: [Create.self, ListKeys.self, ExportPublic.self, AddRecovery.self, Rotate.self])
    }
}

extension Tresor.Keys {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a KEK protected by a passphrase (TRESOR_PASSPHRASE, or asked).",
            discussion: "aes: a symmetric AES-256 KEK. x25519: an asymmetric KEK whose public half can be exported alone (for write-only clients and recovery KEKs).")

        @Argument(help: "Name of the new KEK.") var name: String
        @Option(help: "Directory of the key store (created if missing).", completion: .directory) var keystore: String
        @Option(help: "aes, x25519 (rsa is not offered: x25519 is Tresor's asymmetric KEK).") var type = "aes"
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                guard let type = KEKType(rawValue: self.type) else {
                    throw TresorError(.unsupportedKeyType, "KEK type '\(self.type)' is not supported",
                                      action: "use --type aes or --type x25519 (Tresor's asymmetric KEKs are X25519)")
                }
                let store = try KeyStore.open(at: self.keystore, create: true)
                let passphrase = try Passphrase.obtain(prompt: "New passphrase for KEK '\(self.name)': ", confirm: true)
                let file = try store.create(name: self.name, type: type, passphrase: passphrase, now: SystemInfo.nowMillis)
                if self.output.json {
                    try self.output.print(KEKSummary(file))
                } else {
                    print("created \(type.rawValue) KEK '\(file.name)' (\(file.id)) in \(self.keystore)")
                }
            }
        }
    }

    struct ListKeys: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the KEKs of a key store and the write-only clients it enrolled.")
        @Option(help: "Key store directory.", completion: .directory) var keystore: String
        @OptionGroup var output: OutputOptions

        struct Listing: Encodable {
            var keks: [KEKSummary]
            var clients: [EnrolledClient]
        }

        func run() throws {
            try runReportingErrors("tresor") {
                let store = try KeyStore.open(at: self.keystore)
                let listing = Listing(keks: try store.names().map { KEKSummary(try store.load($0)) },
                                      clients: try store.enrolledClients())
                if self.output.json {
                    try self.output.print(listing)
                    return
                }
                for s in listing.keks {
                    print("KEK \(s.name)\t\(s.type)\t\(s.id)\t\(s.canDecrypt ? "private" : "public only")"
                        + (s.recovery.isEmpty ? "" : "\trecovery: \(s.recovery.joined(separator: ","))"))
                }
                for client in listing.clients {
                    print("client \(client.name)\tKEK \(client.kekName)\tverify key \(client.verifyKey.prefix(16))…")
                }
            }
        }
    }

    struct ExportPublic: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a write-only client's key store: the public KEK half, the ID root and a fresh certified signing key.",
            discussion: "Nothing in the output decrypts: a client using it backs up (deduplicated) but cannot restore, not even its own backups.")

        @Argument(help: "Name of an x25519 KEK.") var name: String
        @Option(help: "The operator's key store.", completion: .directory) var keystore: String
        @Option(help: "Directory for the client's key store.", completion: .directory) var output: String
        @Option(help: "A name for the client (recorded in its certificate).") var client = SystemInfo.hostName
        @Option(help: "Limit the client to one key domain: it gets that domain's ID key instead of the ID root.")
        var domain: String?

        func run() throws {
            try runReportingErrors("tresor") {
                let store = try KeyStore.open(at: self.keystore)
                _ = try store.load(self.name)
                let passphrase = try Passphrase.obtain(prompt: "Passphrase for KEK '\(self.name)': ")
                let kek = try store.unlock(self.name, passphrase: passphrase)
                try store.exportPublic(kek, to: self.output, clientName: self.client, domain: try self.domain.map(DomainID.init))
                print("wrote write-only client key store \(self.output) for KEK '\(self.name)' (client '\(self.client)')")
            }
        }
    }

    struct AddRecovery: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an x25519 recovery KEK: every key wrapped under --kek gets a wrap for it, now and in future backups.",
            discussion: """
                The recovery KEK lives in its own key store (kept offline). Its passphrase (TRESOR_RECOVERY_PASSPHRASE) \
                is needed once, to pin this operator's verify key in it, so restores with the recovery KEK alone can \
                check signatures. Re-export write-only clients afterwards so they wrap for it too.
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var keyOptions: KeyOptions
        @Option(help: "The recovery KEK's key store.", completion: .directory) var recoveryKeystore: String
        @Option(help: "The recovery KEK's name.") var recoveryKek: String

        func run() throws {
            try runReportingErrors("tresor") {
                let store = try KeyStore.open(at: self.keyOptions.keystore)
                let passphrase = try Passphrase.obtain(prompt: "Passphrase for KEK '\(self.keyOptions.kek)': ")
                let kek = try store.unlock(self.keyOptions.kek, passphrase: passphrase)
                let recoveryStore = try KeyStore.open(at: self.recoveryKeystore)
                let recoveryPassphrase = try Passphrase.obtain(variable: "TRESOR_RECOVERY_PASSPHRASE",
                                                               prompt: "Passphrase for recovery KEK '\(self.recoveryKek)': ")
                let recovery = try recoveryStore.unlock(self.recoveryKek, passphrase: recoveryPassphrase)
                guard recovery.file.type == .x25519, let publicKey = recovery.file.publicKey else {
                    throw TresorError(.unsupportedKeyType, "recovery KEK '\(self.recoveryKek)' must be x25519, so backups can wrap to it without its secret")
                }
                // Pin our verify key in the recovery store, then register the recovery KEK with ours.
                try recoveryStore.addTrustedRoot(kek.signingPublicKey, to: recovery, passphrase: recoveryPassphrase)
                var file = kek.file
                let entry = RecoveryKEK(name: self.recoveryKek, id: recovery.file.id, publicKey: publicKey)
                if !file.recoveryKEKs.contains(entry) { file.recoveryKEKs.append(entry) }
                try store.save(file)
                let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                let added = try KeyMaintenance.addRecoveryWraps(opened.keyWraps, keys: KeyRing(operator: kek), recovery: entry,
                                                                now: SystemInfo.nowMillis)
                print("recovery KEK '\(self.recoveryKek)' added to '\(self.keyOptions.kek)': \(added) key wraps written")
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rotate a KEK (rewrap every data key, delete the old wraps; no chunk is rewritten), or with --bek start a new data key.",
            discussion: """
                KEK rotation replaces the KEK's secret under the same name and passphrase. An interrupted rotation is \
                finished by running the command again. After rotating an x25519 KEK, re-export write-only clients. \
                --bek --vm NAME: new data for the VM goes under a fresh data key; the ID key stays, so deduplication \
                continues.
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var keyOptions: KeyOptions
        @Flag(help: "Rotate the data key (BEK) of a VM's key domain instead of the KEK.") var bek = false
        @Option(help: "With --bek: the VM whose domain gets a new data key.") var vm: String?
        @Option(help: "With --bek: the VM's host.") var host: String?
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if self.bek && self.vm == nil { throw ValidationError("--bek needs --vm NAME") }
        }

        func run() throws {
            try runReportingErrors("tresor") {
                let store = try KeyStore.open(at: self.keyOptions.keystore)
                let passphrase = try Passphrase.obtain(prompt: "Passphrase for KEK '\(self.keyOptions.kek)': ")
                let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                if self.bek {
                    let keys = KeyRing(operator: try store.unlock(self.keyOptions.kek, passphrase: passphrase))
                    let vm = try opened.vault.findVM(name: self.vm!, host: self.host)
                    let id = try BackupEngine.rotateDataKey(opened.keyWraps, keys: keys, domain: vm.domainID, now: SystemInfo.nowMillis)
                    print("new data key \(id) for key domain \(vm.domainID)")
                    return
                }
                let (current, retired) = try store.beginRotation(self.keyOptions.kek, passphrase: passphrase, now: SystemInfo.nowMillis)
                let summary = try KeyMaintenance.rewrap(opened.keyWraps, keys: KeyRing(operator: current, retired: retired),
                                                        oldKEKID: retired.file.id, now: SystemInfo.nowMillis)
                try store.finishRotation(self.keyOptions.kek)
                if self.output.json {
                    try self.output.print(summary)
                } else {
                    print("rotated KEK '\(self.keyOptions.kek)': \(retired.file.id) → \(current.file.id); \(summary.rewrapped) wraps rewritten, \(summary.deleted) old wraps deleted")
                }
            }
        }
    }
}

/// What `keys list` and `keys create --json` show: never a secret.
struct KEKSummary: Encodable {
    var name: String
    var id: String
    var type: String
    var canDecrypt: Bool
    var publicKey: String?
    var recovery: [String]

    init(_ file: KEKFile) {
        self.name = file.name
        self.id = file.id.hex
        self.type = file.type.rawValue
        self.canDecrypt = file.sealed != nil
        self.publicKey = file.publicKey
        self.recovery = file.recoveryKEKs.map(\.name)
    }
}
