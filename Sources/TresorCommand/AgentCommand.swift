import ArgumentParser
import Foundation
import Synchronization
import TresorCommandLine
import TresorCore
import TresorRemote

extension Tresor {
    struct Agent: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent of a host: report its VMs to the vault and run the backup jobs queued for them.",
            discussion: """
                The token (role agent, made with `tresor-vault token create DIR --role agent --host NAME`) comes \
                from TRESOR_TOKEN or --token-file. The configuration file names the host, a write-only key \
                store, the VMs and their disks (docs/jobs.md). Stops on SIGTERM or SIGINT after the running job.

                Example: tresor agent --vault https://vault:8443 \\
                    --config /etc/tresor/agent.json
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @Option(help: "The agent's configuration file (JSON).", completion: .file()) var config: String
        @Option(help: "Seconds a poll for jobs waits in the vault.") var pollSeconds = 20
        @Flag(help: "Report, run the jobs queued now, and exit.") var once = false

        func run() throws {
            try runReportingErrors("tresor") {
                StopSignal.install()
                let config = try AgentConfig.load(path: self.config)
                guard self.vaultOptions.isRemote else {
                    throw TresorError(.invalidArgument, "the agent needs the vault server", action: "pass --vault http(s)://HOST:PORT")
                }
                let log: @Sendable (String) -> Void = { FileHandleOutput.standardError("tresor agent: \($0)\n") }
                guard let remote = try AgentRunner.connect(url: self.vaultOptions.vault, token: try self.vaultOptions.token(),
                                                           trust: try self.vaultOptions.serverTrust(), once: self.once,
                                                           shouldStop: { StopSignal.isSet }, log: log)
                else { return }
                let runner = try AgentRunner(config: config, remote: remote, log: log)
                FileHandleOutput.standardError("tresor agent: host \(config.host), \(config.vms.count) VMs, vault \(self.vaultOptions.vault)\n")
                try runner.run(pollSeconds: max(1, min(self.pollSeconds, 30)), once: self.once, shouldStop: { StopSignal.isSet })
            }
        }
    }
}

/// SIGTERM and SIGINT ask the agent to stop after the job it runs. The handler only stores to a lock-free
/// atomic, which is safe in a signal handler.
enum StopSignal {
    private static let flag = Atomic<Bool>(false)
    static var isSet: Bool { Self.flag.load(ordering: .relaxed) }

    static func install() {
        signal(SIGTERM) { _ in StopSignal.flag.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in StopSignal.flag.store(true, ordering: .relaxed) }
        // A parent may start the agent with these signals blocked (the mask is inherited): unblock them
        // on this thread, so that they reach the handler instead of staying pending.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
