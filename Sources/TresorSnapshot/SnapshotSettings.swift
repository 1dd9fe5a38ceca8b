import TresorCore

/// How the agent takes a VM's snapshot: the `snapshot` object of a VM in the agent's configuration
/// (docs/snapshots.md).
public struct SnapshotSettings: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable {
        /// A running QEMU VM, through its QMP socket: overlays taken in one transaction, committed after.
        case qmp
        /// Reflink copies of the disk files (XFS, btrfs), kept in the snapshot tier.
        case reflink
        /// No snapshot: the disks are read while in use.
        case none
    }

    public var method: Method
    /// The VM's QMP socket (`-qmp unix:PATH,server=on,wait=off`), for the qmp method.
    public var qmpSocket: String?
    /// Mounted file systems to freeze while the snapshot is taken (the VM's own, when the agent runs in it,
    /// or a guest file system mounted on the host).
    public var freeze: [String]?
    /// How long a freeze may last before the watchdog thaws; 60 s unless set, as Azure's default.
    public var freezeTimeoutSeconds: Int?
    /// The pre/post-script file, in Azure's VMSnapshotScriptPluginConfig.json format.
    public var scripts: String?

    public init(method: Method, qmpSocket: String? = nil, freeze: [String]? = nil, freezeTimeoutSeconds: Int? = nil, scripts: String? = nil) {
        self.method = method
        self.qmpSocket = qmpSocket
        self.freeze = freeze
        self.freezeTimeoutSeconds = freezeTimeoutSeconds
        self.scripts = scripts
    }

    public static let defaultFreezeTimeoutSeconds = 60

    /// The configuration's mistakes, found before any job runs.
    public func validate(vmName: String, hasSnapshotDirectory: Bool) throws {
        func fail(_ message: String) -> TresorError { TresorError(.invalidArgument, "VM '\(vmName)': \(message)") }
        switch self.method {
        case .qmp:
            guard let socket = self.qmpSocket, !socket.isEmpty else { throw fail("the qmp snapshot method needs qmpSocket") }
        case .reflink:
            guard self.qmpSocket == nil else { throw fail("qmpSocket belongs to the qmp snapshot method") }
        case .none:
            guard self.freeze == nil, self.scripts == nil else {
                throw fail("freezing and consistency scripts need a snapshot method (qmp or reflink)")
            }
        }
        if self.method != .none, !hasSnapshotDirectory {
            throw fail("the \(self.method.rawValue) snapshot method needs the agent's snapshotDirectory")
        }
        if let seconds = self.freezeTimeoutSeconds, !(1...600).contains(seconds) {
            throw fail("freezeTimeoutSeconds must be 1 to 600")
        }
        for mount in self.freeze ?? [] where !mount.hasPrefix("/") || mount == "/" {
            throw fail("freeze names '\(mount)': freeze mounts are absolute paths other than / (freezing the root would stop the agent itself)")
        }
    }
}
