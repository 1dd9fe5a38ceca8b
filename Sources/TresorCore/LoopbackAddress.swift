#if canImport(Glibc)
import Glibc
#endif

/// This machine's loopback interface, the one place plain HTTP is allowed: a server listens in the
/// clear only there, and a client sends `http://` only there (docs/server.md).
public enum LoopbackAddress {
    /// Whether `host` (without brackets) is `localhost`, in 127.0.0.0/8, or ::1.
    public static func contains(_ host: String) -> Bool {
        if host == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        return withUnsafeBytes(of: &v6) { $0.elementsEqual([UInt8](repeating: 0, count: 15) + [1]) }
    }
}
