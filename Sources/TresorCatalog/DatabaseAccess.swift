import GRDB
import TresorCore

/// Reads and writes of Tresor's SQLite files, each in its own transaction, with GRDB's failures turned
/// into `catalog.error` (a TresorError thrown inside passes through unchanged).
extension DatabaseQueue {
    /// Opens (creating it) one of the vault's small SQLite files — tokens, jobs — waiting up to 10 s for a
    /// lock another process holds, and brings it to its newest migration. `what` names it in errors.
    static func tresorOpen(path: String, what: String, migrations: (inout DatabaseMigrator) -> Void) throws -> DatabaseQueue {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            let database = try DatabaseQueue(path: path, configuration: configuration)
            var migrator = DatabaseMigrator()
            migrations(&migrator)
            try migrator.migrate(database)
            return database
        } catch {
            throw TresorError(.catalog, "cannot open the \(what) database \(path): \(error)")
        }
    }

    func tresorRead<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try self.read(body) } catch let error as TresorError { throw error } catch {
            throw TresorError(.catalog, "\(what) query failed: \(error)")
        }
    }

    func tresorWrite<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try self.write(body) } catch let error as TresorError { throw error } catch {
            throw TresorError(.catalog, "\(what) update failed: \(error)")
        }
    }
}
