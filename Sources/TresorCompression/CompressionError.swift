/// A zstd failure; `message` is libzstd's name for the error, which never contains data.
public struct CompressionError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "zstd: \(self.message)" }
}
