import Synchronization

/// Bytes done out of bytes to do, updated by pipeline workers and read by whoever shows progress; and a
/// cancel flag the workers check before each chunk (a job cancelled by an operator).
public final class ProgressCounter: Sendable {
    private let done = Atomic<Int64>(0)
    private let total = Atomic<Int64>(0)
    private let cancelled = Atomic<Bool>(false)

    public init() {}

    public func cancel() { self.cancelled.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { self.cancelled.load(ordering: .relaxed) }

    public var bytesDone: Int64 { self.done.load(ordering: .relaxed) }
    public var bytesTotal: Int64 { self.total.load(ordering: .relaxed) }

    public func setTotal(_ value: Int64) { self.total.store(value, ordering: .relaxed) }
    public func add(_ value: Int) { self.done.add(Int64(value), ordering: .relaxed) }
}
