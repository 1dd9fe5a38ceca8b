public import Foundation

/// A real `tresor-vault serve` process on a free loopback port, as tests of the HTTP API need it.
public final class ServedVault {
    public let directory: String
    public let url: String
    /// For https: the certificate's fingerprint the server printed after its address.
    public let certificateFingerprint: String?
    private let process: Process
    private let errors: Pipe

    /// Starts the server on `directory` and waits for its "listening on" line.
    public init(directory: String, extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        self.directory = directory
        let (process, out, err) = try Programs.start("tresor-vault", ["serve", directory, "--listen", "127.0.0.1:0"] + extraArguments,
                                                     environment: environment)
        self.process = process
        self.errors = err
        let handle = out.fileHandleForReading
        let line = Self.readLine(handle)
        guard let range = line.range(of: "http") else {
            process.terminate()
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw ServedVaultError(message: "the server did not start: \(stderr)")
        }
        self.url = String(line[range.lowerBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
        self.certificateFingerprint = self.url.hasPrefix("https")
            ? Self.readLine(handle).replacingOccurrences(of: "certificate sha256 ", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
            : nil
    }

    /// One line of the server's output, read byte by byte so that nothing after it is consumed.
    private static func readLine(_ handle: FileHandle) -> String {
        var line = ""
        while !line.hasSuffix("\n") {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty { break }
            line += String(decoding: byte, as: UTF8.self)
        }
        return line
    }

    /// SIGTERM, and the exit status once it stopped.
    @discardableResult
    public func stop() -> Int32 {
        guard self.process.isRunning else { return self.process.terminationStatus }
        kill(self.process.processIdentifier, SIGTERM)
        self.process.waitUntilExit()
        return self.process.terminationStatus
    }

    /// SIGKILL: no chance to finish anything.
    public func kill9() {
        kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }

    public var standardError: String {
        String(decoding: self.errors.fileHandleForReading.availableData, as: UTF8.self)
    }

    deinit {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }
}

public struct ServedVaultError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { self.message }
}

/// Raw HTTP calls through curl, for what the programs never send: malformed bodies, path tricks.
public enum RawHTTP {
    public struct Reply: Sendable {
        public var status: Int
        public var body: String
    }

    public static func call(_ method: String, _ url: String, token: String?, headers: [String] = [], body: Data? = nil,
                            directory: String) throws -> Reply {
        // HEAD through -I: with -X HEAD curl waits for a body that never comes.
        var arguments = ["-s", "-S", "--path-as-is", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}"]
        arguments += method == "HEAD" ? ["-I"] : ["-X", method]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        for header in headers { arguments += ["-H", header] }
        if let body {
            let file = directory + "/.body-\(UUID().uuidString)"
            try body.write(to: URL(fileURLWithPath: file))
            arguments += ["--data-binary", "@" + file]
        }
        let text = try Programs.runSystemCapturing("/usr/bin/curl", arguments + [url], environment: [:], directory: directory)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return Reply(status: Int(lines.last ?? "") ?? 0, body: lines.dropLast().joined(separator: "\n"))
    }
}
