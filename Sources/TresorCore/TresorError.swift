/// Every failure a user can meet: a stable code that scripts match on, a one-line message and what to
/// do about it. Messages name objects and paths, never key bytes or passphrases.
public struct TresorError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { self.rawValue }

        // Vault and store.
        public static let notAVault = Code("vault.not_a_vault")
        public static let vaultExists = Code("vault.already_exists")
        public static let unsupportedFormat = Code("format.unsupported_version")
        public static let corruptObject = Code("object.corrupt")
        public static let missingObject = Code("object.missing")
        public static let storageFull = Code("storage.full")
        /// A backup would take the vault or its VM past a storage quota.
        public static let quotaExceeded = Code("quota.exceeded")
        public static let storageIO = Code("storage.io")
        public static let vaultBusy = Code("vault.busy")
        /// Another backup (or a delete) of the same VM holds it.
        public static let operationInProgress = Code("vault.operation_in_progress")
        public static let sessionNotFound = Code("session.not_found")
        /// A commit that does not fit the vault: another sequence, a VM or domain of another session.
        public static let commitRejected = Code("session.commit_rejected")
        // The vault server's callers.
        public static let missingToken = Code("auth.missing_token")
        public static let invalidToken = Code("auth.invalid_token")
        public static let forbidden = Code("auth.forbidden")
        public static let requestInvalid = Code("request.invalid")
        public static let requestTooLarge = Code("request.too_large")
        /// The server serves no such method and path: a vault address with a path, or a client newer than
        /// the vault. Never a missing object, though both answer 404.
        public static let unknownRoute = Code("request.unknown_route")
        public static let unreachable = Code("network.unreachable")
        public static let tlsFailed = Code("network.tls_failed")
        /// The server cannot bind its address: in use, not this machine's, or a privileged port.
        public static let listenFailed = Code("network.listen_failed")
        public static let serverError = Code("server.error")
        /// A policy of that name exists already (create) or does not (update, show).
        public static let policyExists = Code("policy.exists")
        public static let policyNotFound = Code("policy.not_found")
        public static let jobNotFound = Code("job.not_found")
        public static let scheduleMissed = Code("schedule.missed")
        public static let jobNotCancellable = Code("job.not_cancellable")
        public static let onDemandLimit = Code("job.on_demand_limit")
        public static let vmNotReported = Code("vm.not_reported")
        public static let agentNotRunning = Code("agent.not_running")
        public static let regionMismatch = Code("vm.region_mismatch")
        public static let tooManyDisks = Code("vm.too_many_disks")
        // Snapshots and consistency on the agent (docs/snapshots.md).
        public static let snapshotFailed = Code("snapshot.failed")
        public static let freezeFailed = Code("snapshot.freeze_failed")
        /// The freeze watchdog thawed the file systems before the snapshot was taken.
        public static let freezeTimeout = Code("snapshot.freeze_timeout")
        public static let scriptConfigInvalid = Code("script.config_invalid")
        public static let scriptNotFound = Code("script.not_found")
        /// A script or its configuration is not owned by root or is writable by others.
        public static let scriptPermission = Code("script.permission")
        public static let scriptTimeout = Code("script.timeout")
        public static let scriptFailed = Code("script.failed")
        // Catalog.
        public static let catalog = Code("catalog.error")
        public static let notFound = Code("catalog.not_found")
        // Keys.
        public static let keyStore = Code("keys.keystore_invalid")
        public static let wrongPassphrase = Code("keys.wrong_passphrase")
        public static let kekNotFound = Code("keys.kek_not_found")
        public static let kekExists = Code("keys.kek_exists")
        public static let unwrapFailed = Code("keys.unwrap_failed")
        public static let writeOnlyClient = Code("keys.write_only_client")
        public static let untrustedSigner = Code("keys.untrusted_signer")
        public static let badSignature = Code("keys.bad_signature")
        public static let unsupportedKeyType = Code("keys.unsupported_type")
        public static let passphraseRequired = Code("keys.passphrase_required")
        /// Deleting the wrap would leave its key under no KEK at all.
        public static let lastKeyWrap = Code("keys.last_wrap")
        // Backup and restore.
        public static let diskUnreadable = Code("disk.unreadable")
        public static let targetExists = Code("restore.target_exists")
        /// The recovery point is soft-deleted: undelete it to restore it.
        public static let recoveryPointDeleted = Code("restore.point_deleted")
        public static let targetUnwritable = Code("restore.target_unwritable")
        /// A rollback target is mounted, attached to a loop device or locked by another program (QEMU).
        public static let targetInUse = Code("restore.target_in_use")
        /// An interrupted rollback left its undo record: finish it (--resume) or undo it first.
        public static let undoPending = Code("restore.undo_pending")
        /// An undo record is damaged, or belongs to another target or recovery point.
        public static let undoInvalid = Code("restore.undo_invalid")
        /// An instant-restore overlay's map is damaged, or the overlay was made over another recovery point.
        public static let overlayInvalid = Code("restore.overlay_invalid")
        // File-level restore: the guest's partitions and file systems, parsed as untrusted input.
        public static let fileSystemUnsupported = Code("filesystem.unsupported")
        public static let fileSystemDamaged = Code("filesystem.damaged")
        public static let pathNotFound = Code("filesystem.path_not_found")
        public static let unsafeName = Code("filesystem.unsafe_name")
        public static let integrity = Code("data.integrity")
        public static let invalidArgument = Code("usage.invalid_argument")
        public static let cancelled = Code("operation.cancelled")
        public static let verifyFailed = Code("verify.damage_found")
    }

    public let code: Code
    public let message: String
    public let recommendedAction: String?

    public init(_ code: Code, _ message: String, action: String? = nil) {
        self.code = code
        self.message = message
        self.recommendedAction = action
    }

    /// One line: `[code] message (action)`.
    public var description: String {
        if let action = self.recommendedAction { return "[\(self.code)] \(self.message) — \(action)" }
        return "[\(self.code)] \(self.message)"
    }
}
