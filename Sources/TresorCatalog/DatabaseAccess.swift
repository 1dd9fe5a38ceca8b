import GRDB
import TresorCore

/// Reads and writes of Tresor's SQLite files, each in its own transaction, with GRDB's failures turned
/// into `catalog.error` (a TresorError thrown inside passes through unchanged).
extension DatabaseQueue {
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
