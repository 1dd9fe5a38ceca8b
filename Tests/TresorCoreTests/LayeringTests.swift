import Foundation
import Testing

/// The one-way dependencies of DESIGN.md, checked on the sources: the engine sees storage only through
/// TresorCore's protocols, and only the wrapper modules touch the C libraries.
struct LayeringTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    func imports(of target: String) throws -> Set<String> {
        let folder = Self.sources.appendingPathComponent(target)
        var found = Set<String>()
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".swift") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                if let index = words.firstIndex(of: "import"), index + 1 < words.count,
                   words[..<index].allSatisfy({ ["public", "internal", "package", "@preconcurrency"].contains($0) }) {
                    found.insert(String(words[index + 1]))
                }
            }
        }
        return found
    }

    @Test func theEngineSeesStorageOnlyThroughProtocols() throws {
        let engine = try imports(of: "TresorEngine")
        #expect(engine.isDisjoint(with: ["TresorChunkStore", "TresorCatalog", "GRDB", "CLibcrypto", "CZstd", "ArgumentParser"]), "\(engine)")
    }

    @Test func onlyTheWrappersTouchTheCLibraries() throws {
        let targets = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path).filter { $0.hasPrefix("Tresor") }
        for target in targets {
            let used = try imports(of: target)
            #expect(!used.contains("CLibcrypto") || target == "TresorCrypto", "\(target) imports CLibcrypto")
            #expect(!used.contains("CZstd") || target == "TresorCompression", "\(target) imports CZstd")
            #expect(!used.contains("GRDB") || target == "TresorCatalog", "\(target) imports GRDB")
        }
    }

    @Test func theCoreDependsOnNothingOfTresor() throws {
        let core = try imports(of: "TresorCore")
        #expect(core.filter { $0.hasPrefix("Tresor") || $0.hasPrefix("C") && $0 != "CTresorSystem" }.isEmpty, "\(core)")
    }
}
