public import Foundation

/// Runs the built executables (tresor, tresor-vault, tresor-restore, tresor-diskgen) as a user would.
public enum Programs {
    /// The build's bin folder: the test runner lives there too.
    public static var binDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("tresor").path), url.path != "/" {
            url = url.deletingLastPathComponent()
        }
        return url.path
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public static func start(_ program: String, _ arguments: [String], environment: [String: String] = [:],
                             directory: String? = nil) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/" + program)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "TRESOR_PASSPHRASE")
        // Backups keep their change cache out of the home folder of whoever runs the tests.
        env["TRESOR_CACHE_DIR"] = NSTemporaryDirectory() + "tresor-test-cache"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return (process, out, err)
    }

    public static func run(_ program: String, _ arguments: [String], environment: [String: String] = [:],
                           directory: String? = nil) throws -> Result {
        let (process, out, err) = try start(program, arguments, environment: environment, directory: directory)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}

extension Programs {
    /// Runs a system tool (mount, umount) and returns its exit status.
    public static func runSystem(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

extension Programs {
    /// Starts a system tool with its output captured.
    public static func startSystem(_ path: String, _ arguments: [String]) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }
}

extension Programs {
    /// Runs a system tool with an environment and folder, and returns everything it printed.
    public static func runSystemCapturing(_ path: String, _ arguments: [String], environment: [String: String],
                                          directory: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
