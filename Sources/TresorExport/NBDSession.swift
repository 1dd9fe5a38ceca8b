import Glibc
import TresorCore

/// One client connection: the fixed newstyle handshake (options until GO or EXPORT_NAME), then requests
/// until the client disconnects. Requests are served one at a time, in order; clients that want more
/// throughput open more connections (a read-only export says CAN_MULTI_CONN).
final class NBDSession {
    private let stream: SocketStream
    private let name: String
    private let disk: any ExportedDisk
    private var structured = false
    private var allocationContext = false
    private var noZeroes = false

    init(descriptor: Int32, name: String, disk: any ExportedDisk) {
        self.stream = SocketStream(descriptor: descriptor)
        self.name = name
        self.disk = disk
    }

    /// Serves the connection to its end; every failure ends only this connection.
    func run() {
        do {
            guard try self.handshake() else { return }
            try self.transmission()
        } catch {
            // The client went away or broke the protocol: nothing to answer.
        }
    }

    private var transmissionFlags: UInt16 {
        var flags = NBD.TransmissionFlag.hasFlags | NBD.TransmissionFlag.sendFlush
        if self.structured { flags |= NBD.TransmissionFlag.sendDF }
        if self.disk.isWritable {
            flags |= NBD.TransmissionFlag.sendFUA | NBD.TransmissionFlag.sendWriteZeroes | NBD.TransmissionFlag.sendTrim
        } else {
            flags |= NBD.TransmissionFlag.readOnly | NBD.TransmissionFlag.canMultiConn
        }
        return flags
    }

    // MARK: Handshake

    /// True when the client chose the export and transmission starts.
    private func handshake() throws -> Bool {
        var hello: [UInt8] = []
        hello.appendBigEndian(NBD.initialMagic)
        hello.appendBigEndian(NBD.optionMagic)
        hello.appendBigEndian(NBD.HandshakeFlag.fixedNewstyle | NBD.HandshakeFlag.noZeroes)
        try self.stream.write(hello)
        let clientFlags = try self.stream.read(4).bigEndian(UInt32.self, at: 0)
        guard clientFlags & NBD.ClientFlag.fixedNewstyle != 0 else { return false }
        self.noZeroes = clientFlags & NBD.ClientFlag.noZeroes != 0

        while true {
            let head = try self.stream.read(16)
            guard head.bigEndian(UInt64.self, at: 0) == NBD.optionMagic else { return false }
            let option = head.bigEndian(UInt32.self, at: 8)
            let length = Int(head.bigEndian(UInt32.self, at: 12))
            guard length <= NBD.maximumOptionLength else { return false }
            let data = try self.stream.read(length)
            switch NBD.Option(rawValue: option) {
            case .exportName:
                // The old way to choose an export: no reply on an unknown name, the connection just ends.
                guard self.knows(String(decoding: data, as: UTF8.self)) else { return false }
                var reply: [UInt8] = []
                reply.appendBigEndian(UInt64(self.disk.size))
                reply.appendBigEndian(self.transmissionFlags)
                if !self.noZeroes { reply += [UInt8](repeating: 0, count: 124) }
                try self.stream.write(reply)
                return true
            case .abort:
                try? self.reply(option, NBD.Reply.ack)
                return false
            case .list:
                guard data.isEmpty else {
                    try self.reply(option, NBD.Reply.errorInvalid)
                    continue
                }
                var entry: [UInt8] = []
                entry.appendBigEndian(UInt32(self.name.utf8.count))
                entry += Array(self.name.utf8)
                try self.reply(option, NBD.Reply.server, entry)
                try self.reply(option, NBD.Reply.ack)
            case .info, .go:
                if try self.answerInfo(option, data), option == NBD.Option.go.rawValue { return true }
            case .structuredReply:
                guard data.isEmpty else {
                    try self.reply(option, NBD.Reply.errorInvalid)
                    continue
                }
                self.structured = true
                try self.reply(option, NBD.Reply.ack)
            case .listMetaContext, .setMetaContext:
                try self.answerMetaContext(option, data, set: option == NBD.Option.setMetaContext.rawValue)
            case .startTLS, nil:
                try self.reply(option, NBD.Reply.errorUnsupported)
            }
        }
    }

    /// The default export ("") is the only one too.
    private func knows(_ name: String) -> Bool { name.isEmpty || name == self.name }

    private func reply(_ option: UInt32, _ type: UInt32, _ data: [UInt8] = []) throws {
        var out: [UInt8] = []
        out.appendBigEndian(NBD.optionReplyMagic)
        out.appendBigEndian(option)
        out.appendBigEndian(type)
        out.appendBigEndian(UInt32(data.count))
        try self.stream.write(out + data)
    }

    /// INFO and GO: name length, name, count of information requests, the requests. True when answered
    /// with success.
    private func answerInfo(_ option: UInt32, _ data: [UInt8]) throws -> Bool {
        guard data.count >= 6 else {
            try self.reply(option, NBD.Reply.errorInvalid)
            return false
        }
        let nameLength = Int(data.bigEndian(UInt32.self, at: 0))
        guard nameLength <= data.count - 6 else {
            try self.reply(option, NBD.Reply.errorInvalid)
            return false
        }
        let name = String(decoding: data[4..<4 + nameLength], as: UTF8.self)
        let requests = Int(data.bigEndian(UInt16.self, at: 4 + nameLength))
        guard data.count == 6 + nameLength + 2 * requests else {
            try self.reply(option, NBD.Reply.errorInvalid)
            return false
        }
        guard self.knows(name) else {
            try self.reply(option, NBD.Reply.errorUnknown)
            return false
        }
        let asked = (0..<requests).map { data.bigEndian(UInt16.self, at: 6 + nameLength + 2 * $0) }
        if asked.contains(NBD.Info.blockSize) {
            var info: [UInt8] = []
            info.appendBigEndian(NBD.Info.blockSize)
            info.appendBigEndian(UInt32(1))                       // minimum
            info.appendBigEndian(UInt32(4096))                    // preferred
            info.appendBigEndian(UInt32(NBD.maximumRequest))      // maximum
            try self.reply(option, NBD.Reply.info, info)
        }
        var export: [UInt8] = []
        export.appendBigEndian(NBD.Info.export)
        export.appendBigEndian(UInt64(self.disk.size))
        export.appendBigEndian(self.transmissionFlags)
        try self.reply(option, NBD.Reply.info, export)
        try self.reply(option, NBD.Reply.ack)
        return true
    }

    /// LIST and SET of metadata contexts: only `base:allocation` exists; it needs structured replies.
    private func answerMetaContext(_ option: UInt32, _ data: [UInt8], set: Bool) throws {
        guard self.structured, data.count >= 8 else {
            try self.reply(option, NBD.Reply.errorInvalid)
            return
        }
        let nameLength = Int(data.bigEndian(UInt32.self, at: 0))
        guard nameLength <= data.count - 8 else {
            try self.reply(option, NBD.Reply.errorInvalid)
            return
        }
        guard self.knows(String(decoding: data[4..<4 + nameLength], as: UTF8.self)) else {
            try self.reply(option, NBD.Reply.errorUnknown)
            return
        }
        let count = Int(data.bigEndian(UInt32.self, at: 4 + nameLength))
        var position = 8 + nameLength
        var queries: [String] = []
        for _ in 0..<count {
            guard position + 4 <= data.count else {
                try self.reply(option, NBD.Reply.errorInvalid)
                return
            }
            let length = Int(data.bigEndian(UInt32.self, at: position))
            guard length <= data.count - position - 4 else {
                try self.reply(option, NBD.Reply.errorInvalid)
                return
            }
            queries.append(String(decoding: data[position + 4..<position + 4 + length], as: UTF8.self))
            position += 4 + length
        }
        guard position == data.count else {
            try self.reply(option, NBD.Reply.errorInvalid)
            return
        }
        // LIST with no query, or "base:", lists everything; SET selects exact names only.
        let matches = queries.contains(NBD.allocationContext)
            || (!set && (queries.isEmpty || queries.contains("base:")))
        if set { self.allocationContext = matches }
        if matches {
            var context: [UInt8] = []
            context.appendBigEndian(NBD.allocationContextID)
            context += Array(NBD.allocationContext.utf8)
            try self.reply(option, NBD.Reply.metaContext, context)
        }
        try self.reply(option, NBD.Reply.ack)
    }

    // MARK: Transmission

    private func transmission() throws {
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: NBD.maximumRequest, alignment: 4096)
        defer { payload.deallocate() }
        while true {
            let head = try self.stream.read(28)
            guard head.bigEndian(UInt32.self, at: 0) == NBD.requestMagic else { return }
            let flags = head.bigEndian(UInt16.self, at: 4)
            let type = head.bigEndian(UInt16.self, at: 6)
            let cookie = head.bigEndian(UInt64.self, at: 8)
            let offset = head.bigEndian(UInt64.self, at: 16)
            let length = Int(head.bigEndian(UInt32.self, at: 24))
            let command = NBD.Command(rawValue: type)
            if command == .write {
                // The payload follows whatever the answer: read it before anything else.
                guard length <= NBD.maximumRequest else { return }
                try self.stream.read(into: UnsafeMutableRawBufferPointer(rebasing: payload[0..<length]))
            }
            if command == .disconnect { return }
            let inside = offset <= UInt64(self.disk.size) && UInt64(length) <= UInt64(self.disk.size) - offset
            switch command {
            case .read:
                guard inside, length <= NBD.maximumRequest else {
                    try self.fail(cookie, NBD.Errno.invalid)
                    continue
                }
                let buffer = UnsafeMutableRawBufferPointer(rebasing: payload[0..<length])
                do {
                    try self.disk.read(into: buffer, at: Int64(offset))
                } catch {
                    try self.fail(cookie, NBD.Errno.io)
                    continue
                }
                try self.sendRead(cookie, offset: offset, data: UnsafeRawBufferPointer(buffer))
            case .write:
                guard self.disk.isWritable else {
                    try self.fail(cookie, NBD.Errno.permission)
                    continue
                }
                guard inside else {
                    try self.fail(cookie, NBD.Errno.noSpace)
                    continue
                }
                do {
                    try self.disk.write(UnsafeRawBufferPointer(rebasing: payload[0..<length]), at: Int64(offset))
                    if flags & NBD.CommandFlag.fua != 0 { try self.disk.flush() }
                    try self.succeed(cookie)
                } catch {
                    try self.fail(cookie, NBD.Errno.io)
                }
            case .writeZeroes, .trim:
                guard self.disk.isWritable else {
                    try self.fail(cookie, NBD.Errno.permission)
                    continue
                }
                guard inside else {
                    try self.fail(cookie, NBD.Errno.noSpace)
                    continue
                }
                do {
                    // A trim may leave any contents; zeros are as good as any and keep reads defined.
                    try self.writeZeroes(offset: Int64(offset), length: length, scratch: payload)
                    if flags & NBD.CommandFlag.fua != 0 { try self.disk.flush() }
                    try self.succeed(cookie)
                } catch {
                    try self.fail(cookie, NBD.Errno.io)
                }
            case .flush:
                do {
                    try self.disk.flush()
                    try self.succeed(cookie)
                } catch {
                    try self.fail(cookie, NBD.Errno.io)
                }
            case .blockStatus:
                guard self.allocationContext, inside, length > 0 else {
                    try self.fail(cookie, NBD.Errno.invalid)
                    continue
                }
                try self.sendBlockStatus(cookie, offset: Int64(offset), length: Int64(length), onlyOne: flags & NBD.CommandFlag.requestOne != 0)
            case .disconnect, nil:
                try self.fail(cookie, NBD.Errno.invalid)
            }
        }
    }

    private func writeZeroes(offset: Int64, length: Int, scratch: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < length {
            let take = min(length - done, scratch.count)
            let zeros = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<take])
            zeros.initializeMemory(as: UInt8.self, repeating: 0)
            try self.disk.write(UnsafeRawBufferPointer(zeros), at: offset + Int64(done))
            done += take
        }
    }

    private func chunkHeader(_ cookie: UInt64, type: UInt16, length: Int, done: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.appendBigEndian(NBD.structuredReplyMagic)
        out.appendBigEndian(done ? NBD.replyFlagDone : 0)
        out.appendBigEndian(type)
        out.appendBigEndian(cookie)
        out.appendBigEndian(UInt32(length))
        return out
    }

    private func simpleHeader(_ cookie: UInt64, error: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        out.appendBigEndian(NBD.simpleReplyMagic)
        out.appendBigEndian(error)
        out.appendBigEndian(cookie)
        return out
    }

    private func succeed(_ cookie: UInt64) throws {
        if self.structured {
            try self.stream.write(self.chunkHeader(cookie, type: NBD.ReplyType.none, length: 0))
        } else {
            try self.stream.write(self.simpleHeader(cookie, error: 0))
        }
    }

    private func fail(_ cookie: UInt64, _ error: UInt32) throws {
        if self.structured {
            var out = self.chunkHeader(cookie, type: NBD.ReplyType.error, length: 6)
            out.appendBigEndian(error)
            out.appendBigEndian(UInt16(0))     // no message
            try self.stream.write(out)
        } else {
            try self.stream.write(self.simpleHeader(cookie, error: error))
        }
    }

    /// A read: one chunk (so "don't fragment" always holds), a hole chunk when the whole range is a hole.
    private func sendRead(_ cookie: UInt64, offset: UInt64, data: UnsafeRawBufferPointer) throws {
        guard self.structured else {
            try self.stream.write(self.simpleHeader(cookie, error: 0))
            try self.stream.write(data)
            return
        }
        let runs = self.disk.allocation(from: Int64(offset), length: Int64(data.count))
        if runs.count == 1, runs[0].hole, data.count > 0 {
            var out = self.chunkHeader(cookie, type: NBD.ReplyType.offsetHole, length: 12)
            out.appendBigEndian(offset)
            out.appendBigEndian(UInt32(data.count))
            try self.stream.write(out)
            return
        }
        var out = self.chunkHeader(cookie, type: NBD.ReplyType.offsetData, length: 8 + data.count)
        out.appendBigEndian(offset)
        try self.stream.write(out)
        try self.stream.write(data)
    }

    private func sendBlockStatus(_ cookie: UInt64, offset: Int64, length: Int64, onlyOne: Bool) throws {
        var runs = self.disk.allocation(from: offset, length: length)
        if onlyOne { runs = Array(runs.prefix(1)) }
        var out = self.chunkHeader(cookie, type: NBD.ReplyType.blockStatus, length: 4 + 8 * runs.count)
        out.appendBigEndian(NBD.allocationContextID)
        for run in runs {
            out.appendBigEndian(UInt32(run.length))
            out.appendBigEndian(run.hole ? NBD.State.hole | NBD.State.zero : 0)
        }
        try self.stream.write(out)
    }
}
