import Foundation

/// Known-answer vectors from Keys/vectors/NAME.json (RFC and NIST values, checked independently).
public enum Vectors {
    public static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Keys/vectors").path
    }

    public static func load(_ name: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/\(name).json"))
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return object["vectors"] as! [[String: Any]]
    }

    public static func bytes(_ vector: [String: Any], _ key: String) -> [UInt8] {
        let hex = vector[key] as! String
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }
}
