import Foundation
import Synchronization
import TresorCompression
import TresorCore
import TresorCrypto

/// `tresor benchmark`: this machine's primitive speeds and the chunk pipeline's.
public enum MachineBenchmark {
    public struct Row: Codable, Sendable {
        public var name: String
        public var megabytesPerSecond: Double
    }

    public struct Report: Codable, Sendable {
        public var cores: Int
        public var results: [Row]
    }

    public static func run(secondsEach: Double) throws -> Report {
        let size = 1 << 20
        let chunkCount = 48
        // 48 MiB in the benchmark image's mix: a third zero, a third compressible, a third random.
        let data = UnsafeMutableRawBufferPointer.allocate(byteCount: size * chunkCount, alignment: 64)
        defer { data.deallocate() }
        data.initializeMemory(as: UInt8.self, repeating: 0)
        var generator = SyntheticData.Generator(seed: 42)
        let synthetic = SyntheticData()
        for i in 0..<chunkCount {
            let chunk = UnsafeMutableRawBufferPointer(rebasing: data[i * size..<(i + 1) * size])
            switch i % 3 {
            case 1: synthetic.fillCompressible(chunk, generator: &generator)
            case 2: SyntheticData.fillRandom(chunk, generator: &generator)
            default: break
            }
        }
        let compressible = UnsafeRawBufferPointer(rebasing: data[size..<2 * size])
        let random = UnsafeRawBufferPointer(rebasing: data[2 * size..<3 * size])
        let key = try SymmetricKey(randomCount: 32)
        var out = [UInt8](repeating: 0, count: ZstdCompressor.bound(size) + 64)
        var rows: [Row] = []

        rows.append(Row(name: "SHA-256 (1 core)", megabytesPerSecond: measure(secondsEach, bytes: size) {
            out.withUnsafeMutableBytes { SHA256.hash(random, into: $0) }
        }))
        rows.append(Row(name: "HMAC-SHA256 chunk IDs (1 core)", megabytesPerSecond: measure(secondsEach, bytes: size) {
            out.withUnsafeMutableBytes { o in key.withUnsafeBytes { HMACSHA256.authenticate(random, key: $0, into: o) } }
        }))
        let compressor = ZstdCompressor(.chunkDefault)
        var compressedLength = 0
        rows.append(Row(name: "\(ZstdSetting.chunkDefault) compress, text-like (1 core)", megabytesPerSecond: measure(secondsEach, bytes: size) {
            compressedLength = out.withUnsafeMutableBytes { compressor.compress(compressible, into: $0, maximumOutput: $0.count) ?? 0 }
        }))
        rows.append(Row(name: "\(ZstdSetting.chunkDefault) compress, random (1 core)", megabytesPerSecond: measure(secondsEach, bytes: size) {
            _ = out.withUnsafeMutableBytes { compressor.compress(random, into: $0, maximumOutput: size) }
        }))
        _ = out.withUnsafeMutableBytes { compressor.compress(compressible, into: $0, maximumOutput: $0.count) }
        let frame = Array(out[0..<compressedLength])
        let decompressor = ZstdDecompressor()
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { plain.deallocate() }
        rows.append(Row(name: "zstd decompress, text-like (1 core)", megabytesPerSecond: measure(secondsEach, bytes: size) {
            frame.withUnsafeBytes { try? decompressor.decompress($0, into: plain) }
        }))
        let cipher = AESGCM()
        let nonce = [UInt8](repeating: 7, count: 12)
        var tag = [UInt8](repeating: 0, count: 16)
        rows.append(Row(name: "AES-256-GCM seal (1 core)", megabytesPerSecond: measure(secondsEach, bytes: size) {
            nonce.withUnsafeBytes { n in
                out.withUnsafeMutableBytes { o in
                    tag.withUnsafeMutableBytes { t in
                        try? cipher.seal(key: key, nonce: n, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), plaintext: random,
                                         ciphertext: UnsafeMutableRawBufferPointer(rebasing: o[0..<size]), tag: t)
                    }
                }
            }
        }))
        rows.append(Row(name: "chunk pipeline, mixed data (all cores)", megabytesPerSecond: try pipeline(
            data: UnsafeRawBufferPointer(data), chunkSize: size, key: key, seconds: secondsEach)))
        return Report(cores: ProcessInfo.processInfo.activeProcessorCount, results: rows)
    }

    private static func measure(_ seconds: Double, bytes: Int, _ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        var rounds = 0
        repeat {
            body()
            rounds += 1
        } while (clock.now - start).seconds < seconds
        return Double(rounds * bytes) / (clock.now - start).seconds / 1e6
    }

    /// The backup pipeline without disk or store: zero check, keyed ID, zstd, seal, on every core.
    private static func pipeline(data: UnsafeRawBufferPointer, chunkSize: Int, key: SymmetricKey, seconds: Double) throws -> Double {
        let chunks = data.count / chunkSize
        let total = Atomic<Int>(0)
        let clock = ContinuousClock()
        let start = clock.now
        // Raw pointers are not Sendable: pass the address and rebuild the buffer in each worker.
        let base = UInt(bitPattern: data.baseAddress)
        let compressors = ZstdCompressorPool(.chunkDefault, count: WorkerPool.cores)
        try WorkerPool.run(workers: ProcessInfo.processInfo.activeProcessorCount) { worker, _ in
            let data = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: base), count: chunks * chunkSize)
            let sealer = ChunkSealer(maximumChunk: chunkSize, compressors: compressors)
            var i = worker
            try key.withUnsafeBytes { idKey in
                while (clock.now - start).seconds < seconds {
                    let chunk = UnsafeRawBufferPointer(rebasing: data[(i % chunks) * chunkSize..<(i % chunks + 1) * chunkSize])
                    if !isAllZero(chunk) {
                        let id = chunkID(of: chunk, idKey: idKey)
                        _ = try sealer.seal(chunk, id: id, dataKey: key, dataKeyID: KeyID(bytes: [UInt8](repeating: 1, count: 16)))
                    }
                    total.add(chunkSize, ordering: .relaxed)
                    i += 1
                }
            }
        }
        return Double(total.load(ordering: .relaxed)) / (clock.now - start).seconds / 1e6
    }
}
