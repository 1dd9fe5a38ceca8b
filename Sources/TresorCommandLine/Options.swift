public import ArgumentParser
import Foundation
import TresorCore
import TresorCrypto
public import TresorRemote
public import TresorKeys
public import TresorEngine

/// `--vault DIR|URL`, shared by every command that reads or writes a vault.
public struct VaultOptions: ParsableArguments {
    @Option(name: .long, help: "The vault: a directory made by 'tresor-vault init', or a served vault's http(s)://HOST:PORT.",
            completion: .directory)
    public var vault: String

    @Option(name: .long, help: "File holding the token for a served vault (default: the TRESOR_TOKEN environment variable).",
            completion: .file())
    public var tokenFile: String?

    @Option(name: .long, help: "PEM file of the CA (or the server's own certificate) an https vault must present.",
            completion: .file())
    public var tlsCA: String?

    @Option(name: .long, help: "SHA-256 fingerprint of the self-signed certificate an https vault must present, as 'tresor-vault serve' prints it.")
    public var tlsFingerprint: String?

    public init() {}

    public func serverTrust() throws -> ServerTrust {
        try ServerTrust.from(caFile: self.tlsCA, fingerprint: self.tlsFingerprint)
    }

    public var isRemote: Bool { self.vault.hasPrefix("http://") || self.vault.hasPrefix("https://") }

    /// The token, from --token-file or TRESOR_TOKEN; never from a flag holding the secret itself.
    public func token() throws -> String {
        if let path = self.tokenFile {
            var bytes: [UInt8]
            do { bytes = try AtomicFile.read(path) } catch let error as TresorError {
                throw TresorError(.invalidArgument, "cannot read the token file \(path): \(error.message)")
            }
            // The token lives on in the requests' header; the file's copy of it need not (SecretBytes
            // takes the bytes over and wipes them).
            defer { _ = SecretBytes(consuming: &bytes) }
            let token = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw TresorError(.missingToken, "the token file \(path) is empty") }
            return token
        }
        if let token = SystemInfo.environment("TRESOR_TOKEN"), !token.isEmpty { return token }
        throw TresorError(.missingToken, "a served vault needs a token", action: "set TRESOR_TOKEN or pass --token-file FILE")
    }
}

/// `--keystore DIR --kek NAME`: the keys a command uses.
public struct KeyOptions: ParsableArguments {
    @Option(name: .long, help: "Key store directory (an operator's, or a write-only client's from 'keys export-public').",
            completion: .directory)
    public var keystore: String

    @Option(name: .long, help: "Name of the KEK in the key store.")
    public var kek: String

    public init() {}

    /// The key ring: a write-only client's as it is, an operator's unlocked with the passphrase
    /// (TRESOR_PASSPHRASE, TRESOR_PASSPHRASE_FILE, or asked on the terminal).
    public func keyRing() throws -> KeyRing {
        let store = try KeyStore.open(at: self.keystore)
        if store.isWriteOnly { return try KeyRing(client: store, kekName: self.kek) }
        _ = try store.load(self.kek)
        let passphrase = try Passphrase.obtain(prompt: "Passphrase for KEK '\(self.kek)': ")
        let kek = try store.unlock(self.kek, passphrase: passphrase)
        let retired = try store.unlockRetired(kek.file, passphrase: passphrase)
        return KeyRing(operator: kek, retired: retired, restored: try store.loadRestored(for: kek.file.id))
    }
}

/// `--json` for scripts: one JSON object on standard output, nothing else there.
public struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON object instead of text.")
    public var json = false

    public init() {}

    public func print<T: Encodable>(_ value: T) throws {
        Swift.print(String(decoding: try JSON.encode(value, pretty: true), as: UTF8.self))
    }
}

/// Sizes written as 1MiB, 256KiB, 4M or plain bytes.
public struct ByteSize: ExpressibleByArgument, Sendable {
    public let bytes: Int

    public init?(argument: String) {
        var text = argument.lowercased()
        if text.hasSuffix("ib") { text.removeLast(2) } else if text.hasSuffix("b") { text.removeLast() }
        let units: [(String, Int)] = [("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let value = Int(text.dropLast()) else { return nil }
            self.bytes = value * factor
            return
        }
        guard let value = Int(text) else { return nil }
        self.bytes = value
    }
}

extension ReadDataMode {
    /// `--read-data-subset 10%` or `10`.
    public static func subset(argument: String) throws -> ReadDataMode {
        let text = argument.hasSuffix("%") ? String(argument.dropLast()) : argument
        guard let percent = Double(text), percent > 0, percent <= 100 else {
            throw ValidationError("--read-data-subset takes a percentage between 0 and 100, e.g. 10%")
        }
        return .subset(percent: percent)
    }
}

/// `--workers N`: pipeline threads (default: two per core plus one, so chunks waiting on direct I/O
/// leave no core idle; restore and verify, which wait on reads more, use up to sixteen per core).
public struct PipelineOptions: ParsableArguments {
    @Option(help: "Pipeline worker threads (default: 2 per core + 1; restore and verify up to 16 per core).")
    public var workers: Int?

    public init() {}

    public func validate() throws {
        if let workers = self.workers, !(1...256).contains(workers) {
            throw ValidationError("--workers takes 1 to 256")
        }
    }
}

/// `--format raw|vhd` of the restore commands.
extension DiskImageFormat: ExpressibleByArgument {}

/// `--cache-dir` and `--no-cache` of commands that back up: where the change cache lives (docs/formats.md,
/// "Change cache").
public struct ChangeCacheOptions: ParsableArguments {
    @Option(help: "Folder of the change cache (default: $TRESOR_CACHE_DIR, else $XDG_CACHE_HOME/tresor, else ~/.cache/tresor).",
            completion: .directory)
    public var cacheDir: String?

    @Flag(help: "Compute every chunk ID; neither read nor write the change cache.")
    public var noCache = false

    public init() {}

    /// The folder the backup keeps its cache files in, or nil with --no-cache.
    public var directory: String? {
        self.noCache ? nil : Self.folder(base: self.cacheDir.map(SystemInfo.absolutePath) ?? Self.defaultBase)
    }

    /// The change cache under a cache folder, by default the user's: for backups that take no options (the agent).
    public static func directory(base: String?) -> String { folder(base: base ?? defaultBase) }

    private static func folder(base: String) -> String { "\(base)/changes" }

    private static var defaultBase: String {
        if let set = SystemInfo.environment("TRESOR_CACHE_DIR"), !set.isEmpty { return set }
        if let xdg = SystemInfo.environment("XDG_CACHE_HOME"), xdg.hasPrefix("/") { return "\(xdg)/tresor" }
        return "\(SystemInfo.environment("HOME") ?? "/root")/.cache/tresor"
    }
}
