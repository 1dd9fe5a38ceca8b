import TresorCatalog
import TresorEngine
import TresorChunkStore
public import TresorCore
public import TresorRemote

/// Jobs as commands reach them: a served vault's routes, or, for reading only, a vault directory's
/// `jobs.sqlite` (the server's queue is the only writer).
public enum JobAccess {
    public static func jobs(_ options: VaultOptions, _ filter: JobFilter) throws -> [JobRecord] {
        if options.isRemote { return try Self.remote(options).jobs(filter) }
        return try Self.local(options).jobs(filter)
    }

    public static func job(_ options: VaultOptions, id: String) throws -> JobRecord {
        if options.isRemote { return try Self.remote(options).job(id: id) }
        guard let job = try Self.local(options).job(id: id) else { throw TresorError(.jobNotFound, "no job \(id)") }
        return job
    }

    /// The dashboard: the server's, or built here from a vault directory and its job database.
    public static func dashboard(_ options: VaultOptions) throws -> Dashboard {
        if options.isRemote { return try Self.remote(options).dashboard() }
        let opened = try VaultAccess.open(options.vault, exclusive: false)
        return try DashboardBuilder(vault: opened.vault, jobs: try Self.local(options)).build(now: VaultClock.nowMillis)
    }

    /// A served vault's jobs; `what` names the action for the error a directory gets.
    public static func remote(_ options: VaultOptions, for what: String = "this") throws -> RemoteJobs {
        guard options.isRemote else {
            throw TresorError(.invalidArgument, "\(what) needs the vault server: jobs are queued there and run by agents",
                              action: "run `tresor-vault serve DIR` and pass --vault http(s)://HOST:PORT")
        }
        return try RemoteVault(url: options.vault, token: try options.token(), trust: try options.serverTrust()).jobs
    }

    private static func local(_ options: VaultOptions) throws -> SQLiteJobStore {
        _ = try VaultDirectory.open(at: options.vault)
        return try SQLiteJobStore(vaultDirectory: options.vault)
    }
}
