import Foundation
import Glibc
import TresorCore

/// The pre/post-script framework (docs/snapshots.md, "Consistency scripts"): the same JSON file Azure's
/// Linux VM backup reads (VMSnapshotScriptPluginConfig.json), with the same safety rules: the file is mode
/// 600 and the scripts mode 700, all owned by root, so no one but root can make the agent run something.
public struct ConsistencyScripts: Sendable {
    /// The file's fields, under Azure's names.
    public struct Config: Codable, Sendable {
        public var pluginName: String?
        public var preScriptLocation: String
        public var postScriptLocation: String
        public var preScriptParams: [String]?
        public var postScriptParams: [String]?
        public var preScriptNoOfRetries: Int?
        public var postScriptNoOfRetries: Int?
        public var timeoutInSeconds: Int?
        public var continueBackupOnFailure: Bool?
        public var fsFreezeEnabled: Bool?
        public var ScriptsExecutionPollTimeSeconds: Int?
    }

    public enum Phase: String, Sendable {
        case pre
        case post
    }

    public let path: String
    public let config: Config

    public var timeoutSeconds: Int { self.config.timeoutInSeconds ?? 30 }
    public var continueOnFailure: Bool { self.config.continueBackupOnFailure ?? true }
    public var freezeEnabled: Bool { self.config.fsFreezeEnabled ?? true }
    /// Whether scripts are configured at all: Azure's shipped file has empty locations.
    public var hasScripts: Bool { !self.config.preScriptLocation.isEmpty || !self.config.postScriptLocation.isEmpty }

    /// Reads the file after checking who may have written it.
    public static func load(path: String) throws -> ConsistencyScripts {
        try Self.requireRootOnly(path, mode: 0o600, what: "script configuration", missing: .scriptConfigInvalid)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TresorError(.scriptConfigInvalid, "cannot read the script configuration \(path)")
        }
        let config: Config
        do {
            config = try JSONDecoder().decode(Config.self, from: data)
        } catch {
            throw TresorError(.scriptConfigInvalid, "the script configuration \(path) is not valid JSON of the expected shape",
                              action: "start from the example in docs/snapshots.md")
        }
        let scripts = ConsistencyScripts(path: path, config: config)
        guard (1...1800).contains(scripts.timeoutSeconds) else {
            throw TresorError(.scriptConfigInvalid, "\(path): timeoutInSeconds must be 1 to 1800")
        }
        guard (0...5).contains(config.preScriptNoOfRetries ?? 0), (0...5).contains(config.postScriptNoOfRetries ?? 0) else {
            throw TresorError(.scriptConfigInvalid, "\(path): script retries must be 0 to 5")
        }
        return scripts
    }

    /// Runs the phase's script (with its retries) and returns nothing, or throws the failure with a stable
    /// code: not found, unsafe permissions, timed out, or failed with its exit status and last output line.
    public func run(_ phase: Phase, workDirectory: String) throws {
        let location = phase == .pre ? self.config.preScriptLocation : self.config.postScriptLocation
        guard !location.isEmpty else { return }
        let name = phase == .pre ? "pre-script" : "post-script"
        guard FileManager.default.fileExists(atPath: location) else {
            throw TresorError(.scriptNotFound, "the \(name) \(location) does not exist", action: "fix \(phase.rawValue)ScriptLocation in \(self.path)")
        }
        try Self.requireRootOnly(location, mode: 0o700, what: name, missing: .scriptNotFound)
        let parameters = (phase == .pre ? self.config.preScriptParams : self.config.postScriptParams)?.filter { !$0.isEmpty } ?? []
        let attempts = 1 + ((phase == .pre ? self.config.preScriptNoOfRetries : self.config.postScriptNoOfRetries) ?? 0)
        let output = "\(workDirectory)/\(phase.rawValue)-script.log"
        var failure: TresorError?
        for _ in 0..<attempts {
            let child = try ChildProcess.start(location, parameters, outputPath: output, newSession: false)
            guard let status = child.wait(seconds: Double(self.timeoutSeconds)) else {
                failure = TresorError(.scriptTimeout, "the \(name) \(location) did not finish in \(self.timeoutSeconds) s and was killed",
                                      action: "make it faster or raise timeoutInSeconds in \(self.path)")
                continue
            }
            if status == 0 { return }
            let said = child.lastOutputLine().map { ": \($0)" } ?? ""
            failure = TresorError(.scriptFailed, "the \(name) \(location) exited with status \(status)\(said)",
                                  action: "run it by hand as root to see why")
        }
        throw failure!
    }

    /// Owned by root and not open to group or others beyond `mode`: Azure's rule, because the agent runs
    /// these as root.
    static func requireRootOnly(_ path: String, mode: mode_t, what: String, missing: TresorError.Code) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw TresorError(missing, "the \(what) \(path) does not exist")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw TresorError(.scriptPermission, "the \(what) \(path) is not a regular file")
        }
        let permissions = info.st_mode & 0o7777
        guard info.st_uid == 0, permissions == mode else {
            throw TresorError(.scriptPermission,
                              "the \(what) \(path) must be owned by root with mode \(String(mode, radix: 8)) (it has owner \(info.st_uid), mode \(String(permissions, radix: 8)))",
                              action: "chown root:root \(path) && chmod \(String(mode, radix: 8)) \(path)")
        }
    }
}
