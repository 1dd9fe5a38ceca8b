#if canImport(Glibc)
import Glibc
#endif
import TresorCore

/// `VAULT/serving.json`: the `tresor-vault serve` that holds the vault's lock, and where it listens. A
/// local writer turned away with vault.busy names it, so its user knows to go through the URL rather than
/// wait for a server that does not end. Written once the server listens and removed when it stops; one left
/// by a killed server names a process that is gone and is ignored.
public struct ServingRecord: Codable, Sendable, Equatable {
    public var pid: Int32
    public var url: String

    public init(pid: Int32, url: String) {
        self.pid = pid
        self.url = url
    }

    static let fileName = "serving.json"
}

extension VaultDirectory {
    public func recordServing(url: String) throws {
        let record = ServingRecord(pid: getpid(), url: url)
        try AtomicFile.write(try JSON.encode(record), to: self.path + "/" + ServingRecord.fileName, mode: 0o644)
    }

    public func removeServingRecord() {
        unlink(self.path + "/" + ServingRecord.fileName)
    }

    /// The running server's record, or nil when none is written or its process has ended.
    public func runningServer() -> ServingRecord? {
        guard let bytes = try? AtomicFile.read(self.path + "/" + ServingRecord.fileName),
              let record = try? JSON.decode(ServingRecord.self, from: bytes, what: "serving record"),
              record.pid > 0, kill(record.pid, 0) == 0 || errno == EPERM
        else { return nil }
        return record
    }
}
