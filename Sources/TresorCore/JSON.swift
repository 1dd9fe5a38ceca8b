#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// JSON for the small documents (manifests, wraps, configuration, key stores): sorted keys so that the
/// same value always encodes to the same bytes.
public enum JSON {
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    /// Decodes `bytes`, turning any shape error into a corrupt-object error that names `what`.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw TresorError(.corruptObject, "\(what) is not valid (\(shortReason(error)))")
        }
    }

    private static func shortReason(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let c):
            c.codingPath.isEmpty ? "not JSON" : "bad value at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        default: "unreadable"
        }
    }
}

public enum Base64 {
    public static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    public static func decode(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map { Array($0) } }
}

/// A format tag plus version that every JSON object in a vault or key store starts with; an unknown
/// version is refused before anything else is read.
public struct FormatStamp: Codable, Sendable {
    public var format: String
    public var version: Int

    public static func check(_ bytes: [UInt8], format: String, supported: Int, what: String) throws {
        let stamp = try JSON.decode(FormatStamp.self, from: bytes, what: what)
        guard stamp.format == format else {
            throw TresorError(.corruptObject, "\(what) is a '\(stamp.format)', expected '\(format)'")
        }
        guard stamp.version == supported else {
            throw TresorError(.unsupportedFormat, "\(what) has format version \(stamp.version); this Tresor reads version \(supported)",
                              action: "upgrade Tresor")
        }
    }
}
