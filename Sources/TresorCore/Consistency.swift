/// How far a recovery point's disks agree with each other and with the applications on them, recorded on
/// every recovery point (docs/snapshots.md, "Consistency").
public enum Consistency: String, Codable, Sendable, CaseIterable {
    /// Pre-scripts quiesced the applications, the file systems were frozen where configured, and the
    /// post-scripts ran: what an application restarts from without recovery.
    case application = "application-consistent"
    /// The file systems were frozen while the snapshot was taken: no file is half-written, applications
    /// recover as after a clean unmount.
    case fileSystem = "file-system-consistent"
    /// The disks were captured at one instant (or the VM was stopped): as after a power cut.
    case crash = "crash-consistent"
    /// The disks were read while in use, without a snapshot: blocks may come from different instants.
    case notSnapshotted = "not-snapshotted"
}
