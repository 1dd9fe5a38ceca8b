/// What a token may do (docs/server.md, "Roles").
public enum Role: String, Codable, Sendable, CaseIterable {
    /// Everything, including tokens.
    case admin
    /// Create recovery points for its VMs and read their index pages and manifests (for deltas); never chunk
    /// data, never a delete: a compromised VM cannot destroy its backups.
    case backup
    /// Read recovery points: catalog and every object.
    case restore
    /// Status only: vault summary, VMs and recovery points listed.
    case reader
    /// `tresor agent` on one host: reports the host's VMs, runs the jobs the vault gives it, and backs up
    /// (with the rights of `backup`) the VMs of that host only.
    case agent
}

/// A token as the vault keeps it: never the secret, only its SHA-256.
public struct AccessTokenRecord: Codable, Sendable, Equatable {
    /// Public part of the token, shown by `token list` and used by `token revoke`.
    public var id: String
    public var role: Role
    /// The VM name it is limited to, or nil for every VM.
    public var vmName: String?
    /// The host an agent token speaks for (agent tokens only).
    public var hostName: String?
    public var createdAtMillis: Int64
    public var expiresAtMillis: Int64?
    public var revokedAtMillis: Int64?
    /// SHA-256 (hex) of the whole token string.
    public var secretSHA256: String

    public init(id: String, role: Role, vmName: String?, hostName: String? = nil, createdAtMillis: Int64, expiresAtMillis: Int64?,
                revokedAtMillis: Int64?, secretSHA256: String) {
        self.id = id
        self.role = role
        self.vmName = vmName
        self.hostName = hostName
        self.createdAtMillis = createdAtMillis
        self.expiresAtMillis = expiresAtMillis
        self.revokedAtMillis = revokedAtMillis
        self.secretSHA256 = secretSHA256
    }

    public func status(now: Int64) -> String {
        if self.revokedAtMillis != nil { return "revoked" }
        if let expires = self.expiresAtMillis, expires <= now { return "expired" }
        return "active"
    }
}
