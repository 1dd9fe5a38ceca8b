import ArgumentParser
import TresorCatalog
import TresorChunkStore
import TresorCommandLine
import TresorCore
import TresorServer

extension TresorVault {
    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create, list and revoke the tokens clients present to a served vault.",
            subcommands: [Create.self, List.self, Revoke.self])
    }

    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the vault's audit log: who did what, when, and how it ended.")

        @Argument(help: "The vault directory.", completion: .directory)
        var directory: String

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-vault") {
                _ = try VaultDirectory.open(at: self.directory)
                let entries = try AuditLog.read(vaultDirectory: self.directory)
                if self.output.json { return try self.output.print(entries) }
                for entry in entries {
                    print("\(SystemInfo.timestamp(millis: entry.atMillis))  \(entry.actor) (\(entry.role))  \(entry.action)  \(entry.target)  \(entry.result)")
                }
            }
        }
    }
}

extension TresorVault.Token {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it, once, alone on standard output.",
            discussion: "The vault keeps only its SHA-256. Clients read it from TRESOR_TOKEN or --token-file.")

        @Argument(help: "The vault directory.", completion: .directory)
        var directory: String

        @Option(help: "admin, backup, restore, reader or agent.")
        var role: String

        @Option(help: "Limit the token to the VM of this name.")
        var vm: String?

        @Option(help: "The host an agent token speaks for (required with --role agent).")
        var host: String?

        @Option(help: "Lifetime, e.g. 12h or 90d (default: until revoked).")
        var expires: String?

        func run() throws {
            try runReportingErrors("tresor-vault") {
                _ = try VaultDirectory.open(at: self.directory)
                guard let role = Role(rawValue: self.role) else {
                    throw TresorError(.invalidArgument, "'\(self.role)' is not a role", action: "use admin, backup, restore, reader or agent")
                }
                guard (role == .agent) == (self.host != nil) else {
                    throw TresorError(.invalidArgument, "--host goes with --role agent, and an agent token needs it",
                                      action: "e.g. --role agent --host hv1")
                }
                let lifetime = try self.expires.map(DurationText.milliseconds)
                let now = SystemInfo.nowMillis
                let (record, token) = try AccessToken.create(in: try SQLiteTokenStore(vaultDirectory: self.directory), role: role,
                                                             vmName: self.vm, hostName: self.host, expiresAfterMillis: lifetime, now: now)
                try AuditLog(vaultDirectory: self.directory).append(
                    AuditEntry(atMillis: now, actor: "local", role: "-", action: "token.create",
                               target: "token \(record.id) (\(record.role.rawValue)\(record.vmName.map { ", vm \($0)" } ?? "")\(record.hostName.map { ", host \($0)" } ?? ""))", result: "ok"),
                    durable: true)
                print(token)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens: ID, role, VM, status, expiry (never the secret).")

        @Argument(help: "The vault directory.", completion: .directory)
        var directory: String

        @OptionGroup var output: OutputOptions

        struct Row: Encodable {
            var id: String
            var role: Role
            var vm: String?
            var host: String?
            var status: String
            var createdAtMillis: Int64
            var expiresAtMillis: Int64?
        }

        func run() throws {
            try runReportingErrors("tresor-vault") {
                _ = try VaultDirectory.open(at: self.directory)
                let now = SystemInfo.nowMillis
                let rows = try SQLiteTokenStore(vaultDirectory: self.directory).list().map {
                    Row(id: $0.id, role: $0.role, vm: $0.vmName, host: $0.hostName, status: $0.status(now: now), createdAtMillis: $0.createdAtMillis,
                        expiresAtMillis: $0.expiresAtMillis)
                }
                if self.output.json { return try self.output.print(rows) }
                for row in rows {
                    print("\(row.id)  \(row.role.rawValue)  vm=\(row.vm ?? "*")\(row.host.map { "  host=\($0)" } ?? "")  \(row.status)  expires=\(row.expiresAtMillis.map(SystemInfo.timestamp(millis:)) ?? "never")")
                }
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its ID; it fails with 401 from then on.")

        @Argument(help: "The vault directory.", completion: .directory)
        var directory: String

        @Argument(help: "The token's ID (from 'token list').")
        var id: String

        func run() throws {
            try runReportingErrors("tresor-vault") {
                _ = try VaultDirectory.open(at: self.directory)
                let now = SystemInfo.nowMillis
                guard try SQLiteTokenStore(vaultDirectory: self.directory).revoke(id: self.id, now: now) else {
                    throw TresorError(.notFound, "the vault has no token \(self.id)", action: "list them with 'tresor-vault token list'")
                }
                try AuditLog(vaultDirectory: self.directory).append(
                    AuditEntry(atMillis: now, actor: "local", role: "-", action: "token.revoke", target: "token \(self.id)", result: "ok"),
                    durable: true)
                print("revoked token \(self.id)")
            }
        }
    }
}
