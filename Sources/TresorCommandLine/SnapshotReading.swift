public import TresorEngine
public import TresorSnapshot

extension BackupRequest {
    /// Reads the disks from `snapshot`: its copies (the disks keep their configured names), the
    /// consistency it earned, and what change detection knows unchanged since the kept snapshot.
    public mutating func read(from snapshot: HeldSnapshot) {
        self.readPaths = snapshot.readPaths
        self.consistency = snapshot.consistency
        self.unchanged = snapshot.unchangedSinceKeptSnapshot().map { UnchangedSince(recoveryPointID: $0.recoveryPoint, ranges: $0.ranges) }
    }
}
