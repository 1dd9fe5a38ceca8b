import ArgumentParser

@main
struct Tresor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tresor",
        abstract: "Tresor's backup client: keys, backups, recovery points, policies and protection, verification, collection and benchmarks.",
        subcommands: [Keys.self, Backup.self, List.self, RecoveryPoint.self, Verify.self, GC.self, Policy.self, VM.self, Benchmark.self])
}
