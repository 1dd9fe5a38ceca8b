/// `tresor-vault.json` at a vault's root: marks the directory as a vault and fixes its identity.
public struct VaultConfig: Codable, Sendable {
    public static let format = "tresor-vault"
    public static let currentVersion = 1
    public static let fileName = "tresor-vault.json"

    public var format: String = VaultConfig.format
    public var version: Int = VaultConfig.currentVersion
    public var vaultID: String
    public var region: String
    public var createdAtMillis: Int64

    public init(vaultID: String, region: String, createdAtMillis: Int64) {
        self.vaultID = vaultID
        self.region = region
        self.createdAtMillis = createdAtMillis
    }
}
