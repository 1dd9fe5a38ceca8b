#if canImport(Glibc)
import Glibc
#endif
public import ArgumentParser
import TresorCore

/// The programs' entry: a malformed command line is reported in the same one-line form as every other
/// failure (docs/errors.md), `program: error[usage.invalid_argument]: message — see '… --help'`, and exits
/// 64. argument-parser's own report spans three lines (message, usage, pointer to help) and names no
/// code, so scripts matching on codes could not tell it from other output. Help and version requests and
/// every other failure keep argument-parser's handling.
public enum CommandLineEntry {
    public static func run<Root: ParsableCommand>(_ root: Root.Type, program: String) -> Never {
        do {
            var command = try root.parseAsRoot()
            try command.run()
        } catch {
            self.exit(root, program: program, error: error)
        }
        Root.exit()
    }

    /// `run` for programs with commands that run async (the vault server).
    public static func run<Root: AsyncParsableCommand>(_ root: Root.Type, program: String) async -> Never {
        do {
            var command = try root.parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            self.exit(root, program: program, error: error)
        }
        Root.exit()
    }

    private static func exit<Root: ParsableCommand>(_ root: Root.Type, program: String, error: any Error) -> Never {
        guard root.exitCode(for: error) == .validationFailure else { root.exit(withError: error) }
        let message = root.message(for: error).split(whereSeparator: \.isNewline).joined(separator: "; ")
        FileHandleOutput.standardError("\(program): error[\(TresorError.Code.invalidArgument)]: \(message)"
            + " — see '\(self.helpCommand(root, error: error) ?? "\(program) --help")'\n")
        root.exit(withError: ExitCode.validationFailure)
    }

    /// The help command argument-parser's full report points to ("See 'tresor backup --help' for more
    /// information."), which names the subcommand the error belongs to.
    private static func helpCommand<Root: ParsableCommand>(_ root: Root.Type, error: any Error) -> String? {
        let report = root.fullMessage(for: error)
        guard let start = report.firstRange(of: "See '")?.upperBound,
              let end = report[start...].firstIndex(of: "'")
        else { return nil }
        return String(report[start..<end])
    }
}
