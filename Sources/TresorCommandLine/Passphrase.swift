#if canImport(Glibc)
import Glibc
#endif
import TresorCore
public import TresorCrypto

/// Where passphrases come from: an environment variable, a file named by one, or a prompt on the
/// terminal with echo off. Never a command-line flag (it would show in process listings).
public enum Passphrase {
    /// `TRESOR_PASSPHRASE`, then the file named by `TRESOR_PASSPHRASE_FILE`, then the terminal.
    public static func obtain(variable: String = "TRESOR_PASSPHRASE", prompt: String, confirm: Bool = false) throws -> SecretBytes {
        if let value = getenv(variable) {
            // Copied straight from the environment block into wiped storage, with no String in between.
            return SecretBytes(copying: UnsafeRawBufferPointer(start: value, count: strlen(value)))
        }
        if let file = SystemInfo.environment(variable + "_FILE") {
            var bytes = try AtomicFile.read(file)
            while let last = bytes.last, last == 0x0a || last == 0x0d { bytes.removeLast() }
            return SecretBytes(consuming: &bytes)
        }
        guard SystemInfo.isTerminal(0) else {
            throw TresorError(.passphraseRequired, "a passphrase is needed and there is no terminal to ask on",
                              action: "set \(variable) or \(variable)_FILE")
        }
        let first = try Self.prompt(prompt)
        if confirm {
            let second = try Self.prompt("Repeat passphrase: ")
            guard first.constantTimeEquals(second) else {
                throw TresorError(.invalidArgument, "the passphrases differ")
            }
        }
        guard first.count >= 8 || !confirm else {
            throw TresorError(.invalidArgument, "a passphrase needs at least 8 characters")
        }
        return first
    }

    private static func prompt(_ text: String) throws -> SecretBytes {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        let fd = tty >= 0 ? tty : 0
        defer { if tty >= 0 { close(tty) } }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        var saved = termios()
        let canHideEcho = tcgetattr(fd, &saved) == 0
        if canHideEcho {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(fd, TCSAFLUSH, &quiet)
        }
        defer {
            if canHideEcho { tcsetattr(fd, TCSAFLUSH, &saved) }
            _ = write(fd, "\n", 1)
        }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1, byte != 0x0a { bytes.append(byte) }
        return SecretBytes(consuming: &bytes)
    }
}
