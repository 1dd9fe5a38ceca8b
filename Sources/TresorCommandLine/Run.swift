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
    } catch let error as TresorError {
        FileHandleOutput.standardError("\(program): error[\(error.code)]: \(error.message)"
            + (error.recommendedAction.map { " — \($0)" } ?? "") + "\n")
        throw ExitCode(error.code == .verifyFailed ? 2 : 1)
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        FileHandleOutput.standardError("\(program): error[internal]: \(error)\n")
        throw ExitCode(1)
    }
}

public enum FileHandleOutput {
    public static func standardError(_ text: String) {
        _ = text.withCString { write(2, $0, strlen($0)) }
    }
}
