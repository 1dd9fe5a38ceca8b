#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import TresorCore

/// Runs a command body and turns failures into one line on standard error with a stable code, and a
/// non-zero exit. Nothing secret reaches the line: TresorError messages never carry key material.
public func runReportingErrors(_ program: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        throw reported(error, program: program)
    }
}

/// `runReportingErrors` for commands that run async (the vault server).
public func runReportingErrors(_ program: String, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch {
        throw reported(error, program: program)
    }
}

private func reported(_ error: any Error, program: String) -> any Error {
    switch error {
    case let error as TresorError:
        FileHandleOutput.standardError("\(program): error[\(error.code)]: \(error.message)"
            + (error.recommendedAction.map { " — \($0)" } ?? "") + "\n")
        return ExitCode(error.code == .verifyFailed ? 2 : 1)
    case is ExitCode, is ValidationError:
        return error
    default:
        FileHandleOutput.standardError("\(program): error[internal]: \(error)\n")
        return ExitCode(1)
    }
}

public enum FileHandleOutput {
    public static func standardError(_ text: String) {
        _ = text.withCString { write(2, $0, strlen($0)) }
    }
}

/// Pushes buffered standard output out now (a line another program waits for).
public func fflushStandardOutput() {
    // fflush(NULL) flushes every output stream, standard output included, without naming the C global.
    fflush(nil)
}
