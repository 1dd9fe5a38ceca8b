public import TresorCore

/// One recovery point's keys restored into a key store (`restored/<recovery point>.json`, mode 0600), as
/// Azure restores a VM's BEK and KEK into a key vault: its ID key and data keys wrapped to this store's
/// x25519 KEK, and the manifest signer that the authorizing operator verified, pinned for that point only.
/// With it, this key store restores that one recovery point without ever having held the operator's KEK.
public struct RestoredKeysFile: Codable, Sendable, Equatable {
    public static let format = "tresor-restored-keys"
    public static let currentVersion = 1

    public var format: String = RestoredKeysFile.format
    public var version: Int = RestoredKeysFile.currentVersion
    public var vaultID: String
    public var recoveryPointID: String
    public var vmName: String
    public var domainID: String
    /// The KEK of this store the keys are wrapped to.
    public var kekID: KeyID
    /// Hex of the Ed25519 key that signed the recovery point's manifest.
    public var signer: String
    /// Who authorized it: the operator KEK that opened the point.
    public var restoredByKEK: String
    public var restoredAtMillis: Int64
    public var wraps: [KeyWrapRecord]

    public init(vaultID: String, recoveryPointID: String, vmName: String, domainID: String, kekID: KeyID, signer: String,
                restoredByKEK: String, restoredAtMillis: Int64, wraps: [KeyWrapRecord]) {
        self.vaultID = vaultID
        self.recoveryPointID = recoveryPointID
        self.vmName = vmName
        self.domainID = domainID
        self.kekID = kekID
        self.signer = signer
        self.restoredByKEK = restoredByKEK
        self.restoredAtMillis = restoredAtMillis
        self.wraps = wraps
    }
}

extension KeyStore {
    private var restoredFolder: String { self.path + "/restored" }

    public func saveRestored(_ file: RestoredKeysFile) throws -> String {
        try POSIX.makeDirectories(self.restoredFolder)
        let path = "\(self.restoredFolder)/\(file.recoveryPointID).json"
        try AtomicFile.write(try JSON.encode(file, pretty: true), to: path, mode: 0o600)
        return path
    }

    /// The restored keys wrapped to KEK `kekID`; files of other formats or KEKs are passed over.
    public func loadRestored(for kekID: KeyID) throws -> [RestoredKeysFile] {
        guard let entries = try? POSIX.directoryEntries(self.restoredFolder) else { return [] }
        return try entries.filter { $0.name.hasSuffix(".json") }.compactMap { entry in
            let path = "\(self.restoredFolder)/\(entry.name)"
            let bytes = try AtomicFile.read(path)
            try FormatStamp.check(bytes, format: RestoredKeysFile.format, supported: RestoredKeysFile.currentVersion, what: path)
            let file = try JSON.decode(RestoredKeysFile.self, from: bytes, what: path)
            return file.kekID == kekID ? file : nil
        }
    }
}
