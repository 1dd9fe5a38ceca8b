import Foundation
import Testing
import TresorCore
import TresorEngine
import TresorKeys
import TresorTestSupport

/// Alter each kind of object and check that restore and verify name it, and that verify's marking makes
/// the next backup store the data again.
struct TamperTests {
    func setUp() throws -> (TestVault, KeyRing, BackupResult, String) {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 8 << 20, seed: 11)
        return (t, keys, try t.backup([disk], keys: keys), disk)
    }

    @Test func anAlteredChunkIsNamedMarkedBadAndStoredAgain() throws {
        let (t, keys, result, disk) = try setUp()
        let chunk = try t.objects("domains").first { $0.contains("/chunks/") }!
        try flipByte(t.storePath(chunk), at: 200)
        #expect { try t.restore(result.recoveryPoint, keys: keys) } throws: {
            ($0 as? TresorError)?.code == .integrity && "\($0)".contains(chunk)
        }
        let structural = try Verifier.run(vault: t.vault, keys: keys, mode: .none)
        #expect(structural.ok, "structure alone does not read chunk data")
        let report = try Verifier.run(vault: t.vault, keys: keys, mode: .all)
        #expect(!report.ok)
        #expect(report.problems.count == 1)
        #expect(report.problems[0].kind == .chunkAltered && report.problems[0].object == chunk)
        #expect(report.problems[0].breaks.first?.recoveryPoint == result.recoveryPoint)
        #expect(report.chunksMarkedBad == 1)
        // The next backup of the unchanged disk writes that chunk again, and the new point restores.
        let again = try t.backup([disk], keys: keys)
        #expect(again.chunksNew == 1)
        #expect(TestImages.equal(try t.restore(again.recoveryPoint, keys: keys), disk))
        #expect(try Verifier.run(vault: t.vault, keys: keys, mode: .all).ok)
    }

    @Test func aMissingChunkIsReportedWithWhatItBreaks() throws {
        let (t, keys, result, _) = try setUp()
        let chunk = try t.objects("domains").first { $0.contains("/chunks/") }!
        try FileManager.default.removeItem(atPath: t.storePath(chunk))
        let report = try Verifier.run(vault: t.vault, keys: keys, mode: .none)
        #expect(report.problems.map(\.kind) == [.chunkMissing])
        #expect(report.problems[0].breaks == [VerifyProblem.Reference(recoveryPoint: result.recoveryPoint, vm: "vm1", disk: 0)])
    }

    @Test func anAlteredIndexPageIsNamed() throws {
        let (t, keys, result, _) = try setUp()
        let page = try t.objects("domains").first { $0.contains("/index/") }!
        try flipByte(t.storePath(page), at: 20)
        #expect { try t.restore(result.recoveryPoint, keys: keys) } throws: { "\($0)".contains(page) }
        let report = try Verifier.run(vault: t.vault, keys: keys, mode: .none)
        #expect(report.problems.map(\.kind) == [.indexPage])
    }

    @Test func anAlteredManifestFailsItsSignature() throws {
        let (t, keys, result, _) = try setUp()
        let path = t.storePath("manifests/\(result.recoveryPoint).manifest")
        var signed = try JSONDecoder().decode(SignedManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        var body = try JSONDecoder().decode(ManifestBody.self, from: Data(base64Encoded: signed.body)!)
        body.disks[0].size += 4096
        signed.body = try JSONEncoder().encode(body).base64EncodedString()
        try JSONEncoder().encode(signed).write(to: URL(fileURLWithPath: path))
        #expect { try t.restore(result.recoveryPoint, keys: keys) } throws: { ($0 as? TresorError)?.code == .badSignature }
        #expect(try Verifier.run(vault: t.vault, keys: keys, mode: .none).problems.map(\.kind) == [.manifest])
    }

    @Test func aManifestOfAnUnknownVersionIsRefusedClearly() throws {
        let (t, keys, result, _) = try setUp()
        let path = t.storePath("manifests/\(result.recoveryPoint).manifest")
        var signed = try JSONDecoder().decode(SignedManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        signed.version = 2
        try JSONEncoder().encode(signed).write(to: URL(fileURLWithPath: path))
        #expect { try t.restore(result.recoveryPoint, keys: keys) } throws: {
            ($0 as? TresorError)?.code == .unsupportedFormat && "\($0)".contains(result.recoveryPoint) && "\($0)".contains("version 2")
        }
    }

    @Test func anAlteredKeyWrapIsNamed() throws {
        let (t, keys, result, _) = try setUp()
        for wrap in try t.objects("domains") where wrap.hasSuffix(".wrap") {
            let url = URL(fileURLWithPath: t.storePath(wrap))
            var record = try JSONDecoder().decode(KeyWrapRecord.self, from: Data(contentsOf: url))
            var bytes = record.wrappedBytes!
            bytes[5] ^= 1
            record.wrapped = bytes.withUnsafeBufferPointer { Data($0).base64EncodedString() }
            try JSONEncoder().encode(record).write(to: url)
        }
        #expect { try t.restore(result.recoveryPoint, keys: keys) } throws: {
            ($0 as? TresorError)?.code == .unwrapFailed && "\($0)".contains(".wrap")
        }
    }

    @Test func aChunkMovedUnderAnotherNameFailsAuthentication() throws {
        let (t, keys, result, _) = try setUp()
        let chunks = try t.objects("domains").filter { $0.contains("/chunks/") }
        try FileManager.default.removeItem(atPath: t.storePath(chunks[0]))
        try FileManager.default.copyItem(atPath: t.storePath(chunks[1]), toPath: t.storePath(chunks[0]))
        #expect { try t.restore(result.recoveryPoint, keys: keys) } throws: { ($0 as? TresorError)?.code == .integrity }
    }
}
