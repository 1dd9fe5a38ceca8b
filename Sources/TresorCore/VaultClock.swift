#if canImport(Glibc)
import Glibc
#endif

/// The one wall clock of every Tresor program: real time, shifted by `TRESOR_CLOCK_OFFSET` (e.g. `15d`,
/// `-2h`) when that is set at start-up. Tests walk retention and soft-delete periods this way; nothing
/// in the API can move it.
public enum VaultClock {
    public static let offsetMillis: Int64 = {
        guard let raw = getenv("TRESOR_CLOCK_OFFSET"), let text = Optional(String(cString: raw)), !text.isEmpty else { return 0 }
        let negative = text.hasPrefix("-")
        guard let magnitude = try? DurationText.milliseconds(negative ? String(text.dropFirst()) : text) else {
            fatalError("TRESOR_CLOCK_OFFSET='\(text)' is not a duration like 15d or -2h")
        }
        return negative ? -magnitude : magnitude
    }()

    public static var nowMillis: Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000 + Self.offsetMillis
    }
}

/// Durations as users write them: 90s, 30m, 12h, 30d.
public enum DurationText {
    public static func milliseconds(_ text: String) throws -> Int64 {
        let units: [Character: Int64] = ["s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000]
        guard let unit = text.last.flatMap({ units[$0] }), let value = Int64(text.dropLast()), value > 0 else {
            throw TresorError(.invalidArgument, "'\(text)' is not a duration", action: "write it like 90s, 30m, 12h or 30d")
        }
        return value * unit
    }
}
