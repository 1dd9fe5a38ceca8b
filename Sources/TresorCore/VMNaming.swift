/// VM and host names are shown in lists, logs and jobs, and tell VMs apart: each must be 1 to 255 bytes of
/// UTF-8 with no control character and no space at either end. Backups and registrations check them.
public enum VMNaming {
    /// What is wrong with the names, or nil when both are fine.
    public static func problem(vmName: String, host: String) -> String? {
        for (what, name) in [("VM name", vmName), ("host name", host)] {
            guard !name.isEmpty, name.utf8.count <= 255 else {
                return "the \(what) must be 1 to 255 bytes long, not \(name.utf8.count)"
            }
            let scalars = name.unicodeScalars
            guard scalars.first?.properties.isWhitespace == false, scalars.last?.properties.isWhitespace == false,
                  !scalars.contains(where: { $0.properties.generalCategory == .control }) else {
                return "the \(what) '\(name.debugDescription.dropFirst().dropLast())' has a control character or a space at an end"
            }
        }
        return nil
    }

    public static func check(vmName: String, host: String) throws {
        if let problem = Self.problem(vmName: vmName, host: host) { throw TresorError(.invalidArgument, problem) }
    }
}
