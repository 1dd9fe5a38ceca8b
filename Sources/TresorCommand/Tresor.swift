import ArgumentParser
import TresorCommandLine

@main
struct Tresor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tresor",
        abstract: "Tresor's backup client: keys, backups, recovery points, policies and protection, jobs and agents, verification, collection and benchmarks.",
        subcommands: [Keys.self, Backup.self, BackupNow.self, List.self, RecoveryPoint.self, Verify.self, GC.self, Policy.self, VM.self,
                      Job.self, Agent.self, DashboardCommand.self, UsageCommand.self, Benchmark.self])

    /// A malformed command line is one line with a code, as every other failure (CommandLineEntry).
    static func main() {
        CommandLineEntry.run(Self.self, program: "tresor")
    }
}
