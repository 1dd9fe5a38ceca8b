public import TresorCore

/// Deleting, undeleting, collecting and holding recovery points for reading, as a command sees them: a
/// vault directory on this machine or a served vault's admin and lease routes.
public protocol VaultMaintenance: Sendable {
    func deleteRecoveryPoint(_ id: String) throws -> RecoveryPointRecord
    func undeleteRecoveryPoint(_ id: String) throws -> RecoveryPointRecord
    func collectGarbage() throws -> GarbageReport
    /// Keeps garbage collection away from these points until the hold is released (or its holder dies).
    func holdForReading(_ points: [String]) throws -> any ReadHold
}

/// A hold on recovery points for as long as a restore or verify reads them.
public protocol ReadHold: Sendable {
    func release()
}
