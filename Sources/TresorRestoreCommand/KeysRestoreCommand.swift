import ArgumentParser
import Glibc
import TresorCommandLine
import TresorCore
import TresorEngine
import TresorKeys

/// What `tresor-restore keys --json` prints.
struct KeysRestored: Codable {
    var recoveryPoint: String
    var keystore: String
    var kek: String
    var file: String
    var dataKeys: Int
}

extension TresorRestore {
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore a recovery point's keys into another key store, so that it restores that point on a machine that never held the operator's KEK.",
            discussion: """
                The point is opened with --keystore/--kek (its manifest verified, its keys unwrapped); its ID key and data keys are then \
                wrapped to the x25519 KEK --to-kek of --to-keystore, whose public half is all that is needed, and the manifest's signer \
                is pinned there for that point alone. Keys/README.md, "Restoring keys".
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var point: RecoveryPointOptions
        @OptionGroup var keyOptions: KeyOptions
        @Option(help: "The key store to restore the keys into (an operator key store, e.g. of a recovery site).", completion: .directory)
        var toKeystore: String
        @Option(help: "Its x25519 KEK to wrap the keys to.") var toKek: String
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-restore") {
                let target = try KeyStore.open(at: self.toKeystore)
                try self.point.withOpened(vault: self.vaultOptions, keys: self.keyOptions) { recoveryPoint in
                    let (path, file) = try KeyRestore.restore(recoveryPoint, vmName: self.point.vm, into: target, kekName: self.toKek,
                                                              restoredBy: self.keyOptions.kek, now: Int64(time(nil)) * 1000)
                    let result = KeysRestored(recoveryPoint: file.recoveryPointID, keystore: self.toKeystore, kek: self.toKek, file: path,
                                              dataKeys: file.wraps.count - 1)
                    if self.outputOptions.json {
                        try self.outputOptions.print(result)
                    } else {
                        print("restored the ID key and \(result.dataKeys) data key(s) of \(file.recoveryPointID) into \(path), wrapped to KEK '\(self.toKek)'")
                    }
                }
            }
        }
    }
}
