#if canImport(Glibc)
import Glibc
#endif
import TresorCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

func unlinkIfPresent(_ path: String) { unlink(path) }

/// Small facts about the running system the commands need.
public enum SystemInfo {
    public static var hostName: String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    public static var nowMillis: Int64 { VaultClock.nowMillis }

    /// "yyyy-MM-dd HH:mm:ss" in UTC, as the text outputs show times.
    public static func timestamp(millis: Int64) -> String {
        var seconds = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// An absolute, normalised path, so a disk is recognised whichever way it was named.
    public static func absolutePath(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        if path.hasPrefix("/") { return path }
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX))
        guard buffer.withUnsafeMutableBufferPointer({ getcwd($0.baseAddress.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: CChar.self) }, $0.count) }) != nil
        else { return path }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self) + "/" + path
    }
}
