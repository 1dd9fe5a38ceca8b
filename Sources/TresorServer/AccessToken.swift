#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TresorCore
import TresorCrypto

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
}

/// A token as the vault keeps it: never the secret, only its SHA-256.
public struct AccessTokenRecord: Codable, Sendable, Equatable {
    /// Public part of the token, shown by `token list` and used by `token revoke`.
    public var id: String
    public var role: Role
    /// The VM name it is limited to, or nil for every VM.
    public var vmName: String?
    public var createdAtMillis: Int64
    public var expiresAtMillis: Int64?
    public var revokedAtMillis: Int64?
    /// SHA-256 (hex) of the whole token string.
    public var secretSHA256: String

    public func status(now: Int64) -> String {
        if self.revokedAtMillis != nil { return "revoked" }
        if let expires = self.expiresAtMillis, expires <= now { return "expired" }
        return "active"
    }
}

/// The token format: `tresor_<id>_<secret>`, id 16 hex digits, secret 64 hex digits (256 random bits).
/// The secret is high-entropy, so a plain SHA-256 is enough to keep at rest (no password hashing).
public enum AccessToken {
    public static let prefix = "tresor_"

    static func generate() throws -> (id: String, token: String) {
        let id = Hex.encode(try SecureRandom.bytes(8))
        let secret = Hex.encode(try SecureRandom.bytes(32))
        return (id, "\(prefix)\(id)_\(secret)")
    }

    /// The ID a presented token claims, or nil when it is not shaped like a token.
    static func id(of token: String) -> String? {
        guard token.hasPrefix(prefix) else { return nil }
        let parts = token.dropFirst(prefix.count).split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 16, parts[1].count == 64,
              parts.allSatisfy({ $0.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) } })
        else { return nil }
        return String(parts[0])
    }

    static func digest(_ token: String) -> String { Hex.encode(SHA256.hash(Array(token.utf8))) }
}

/// Durations as operators write them: 90s, 30m, 12h, 30d.
public enum DurationText {
    public static func milliseconds(_ text: String) throws -> Int64 {
        let units: [Character: Int64] = ["s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000]
        guard let unit = text.last.flatMap({ units[$0] }), let value = Int64(text.dropLast()), value > 0 else {
            throw TresorError(.invalidArgument, "'\(text)' is not a duration", action: "write it like 90s, 30m, 12h or 30d")
        }
        return value * unit
    }
}
