/// Bounds how many upload bodies the server holds at once, so its memory does not grow with the number of
/// clients: a request past the limit waits before reading its body, and TCP holds the bytes meanwhile.
actor UploadSlots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) {
        self.free = count
    }

    func withSlot<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await self.acquire()
        do {
            let result = try await body()
            self.release()
            return result
        } catch {
            self.release()
            throw error
        }
    }

    private func acquire() async {
        if self.free > 0 {
            self.free -= 1
            return
        }
        await withCheckedContinuation { self.waiting.append($0) }
    }

    private func release() {
        if self.waiting.isEmpty {
            self.free += 1
        } else {
            // The slot passes straight to the oldest waiter.
            self.waiting.removeFirst().resume()
        }
    }
}
