#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TresorCatalog
public import TresorCore
import TresorCrypto

/// The token format: `tresor_<id>_<secret>`, id 16 hex digits, secret 64 hex digits (256 random bits).
/// The secret is high-entropy, so a plain SHA-256 is enough to keep at rest (no password hashing).
public enum AccessToken {
    public static let prefix = "tresor_"

    /// Creates a token and returns it: the only time the secret exists outside its holder.
    public static func create(in store: SQLiteTokenStore, role: Role, vmName: String?, hostName: String? = nil,
                              expiresAfterMillis: Int64?, now: Int64) throws -> (AccessTokenRecord, String) {
        let (id, token) = try Self.generate()
        let record = AccessTokenRecord(id: id, role: role, vmName: vmName, hostName: hostName, createdAtMillis: now,
                                       expiresAtMillis: expiresAfterMillis.map { now + $0 }, revokedAtMillis: nil,
                                       secretSHA256: Self.digest(token))
        try store.insert(record)
        return (record, token)
    }

    /// The record of a presented token, or an `invalidToken` error that says why without echoing it.
    public static func authenticate(_ token: String, in store: SQLiteTokenStore, now: Int64) throws -> AccessTokenRecord {
        guard Self.id(of: token) != nil else {
            throw TresorError(.invalidToken, "the token is not a Tresor token")
        }
        guard let record = try Self.holder(of: token, in: store) else {
            throw TresorError(.invalidToken, "the token is not known to this vault")
        }
        switch record.status(now: now) {
        case "revoked": throw TresorError(.invalidToken, "token \(record.id) was revoked")
        case "expired": throw TresorError(.invalidToken, "token \(record.id) has expired")
        default: return record
        }
    }

    /// The record of the token presented, whatever its status, when its secret is the one issued: the
    /// caller holds that token, even a revoked or expired one.
    static func holder(of token: String, in store: SQLiteTokenStore) throws -> AccessTokenRecord? {
        guard let id = Self.id(of: token), let record = try store.find(id: id),
              ConstantTime.equals(Array(Self.digest(token).utf8), Array(record.secretSHA256.utf8))
        else { return nil }
        return record
    }

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
