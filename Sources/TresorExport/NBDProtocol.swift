/// The numbers of the NBD protocol's fixed newstyle handshake and transmission phase (docs/nbd.md names
/// what Tresor's export speaks; the protocol itself is the NBD project's proto.md).
enum NBD {
    static let initialMagic: UInt64 = 0x4e42_444d_4147_4943          // "NBDMAGIC"
    static let optionMagic: UInt64 = 0x4948_4156_454f_5054           // "IHAVEOPT"
    static let optionReplyMagic: UInt64 = 0x0003_e889_0455_65a9
    static let requestMagic: UInt32 = 0x2560_9513
    static let simpleReplyMagic: UInt32 = 0x6744_6698
    static let structuredReplyMagic: UInt32 = 0x668e_33ef

    enum HandshakeFlag {
        static let fixedNewstyle: UInt16 = 1 << 0
        static let noZeroes: UInt16 = 1 << 1
    }

    enum ClientFlag {
        static let fixedNewstyle: UInt32 = 1 << 0
        static let noZeroes: UInt32 = 1 << 1
    }

    enum Option: UInt32 {
        case exportName = 1
        case abort = 2
        case list = 3
        case startTLS = 5
        case info = 6
        case go = 7
        case structuredReply = 8
        case listMetaContext = 9
        case setMetaContext = 10
    }

    enum Reply {
        static let ack: UInt32 = 1
        static let server: UInt32 = 2
        static let info: UInt32 = 3
        static let metaContext: UInt32 = 4
        static let errorUnsupported: UInt32 = 1 << 31 | 1
        static let errorPolicy: UInt32 = 1 << 31 | 2
        static let errorInvalid: UInt32 = 1 << 31 | 3
        static let errorUnknown: UInt32 = 1 << 31 | 6
    }

    enum Info {
        static let export: UInt16 = 0
        static let blockSize: UInt16 = 3
    }

    enum TransmissionFlag {
        static let hasFlags: UInt16 = 1 << 0
        static let readOnly: UInt16 = 1 << 1
        static let sendFlush: UInt16 = 1 << 2
        static let sendFUA: UInt16 = 1 << 3
        static let sendTrim: UInt16 = 1 << 5
        static let sendWriteZeroes: UInt16 = 1 << 6
        static let sendDF: UInt16 = 1 << 7
        static let canMultiConn: UInt16 = 1 << 8
    }

    enum Command: UInt16 {
        case read = 0
        case write = 1
        case disconnect = 2
        case flush = 3
        case trim = 4
        case writeZeroes = 6
        case blockStatus = 7
    }

    enum CommandFlag {
        static let fua: UInt16 = 1 << 0
        static let requestOne: UInt16 = 1 << 3
    }

    enum ReplyType {
        static let none: UInt16 = 0
        static let offsetData: UInt16 = 1
        static let offsetHole: UInt16 = 2
        static let blockStatus: UInt16 = 5
        static let error: UInt16 = 1 << 15 | 1
    }

    static let replyFlagDone: UInt16 = 1

    /// Error numbers on the wire (the protocol fixes them; they equal Linux's).
    enum Errno {
        static let permission: UInt32 = 1
        static let io: UInt32 = 5
        static let invalid: UInt32 = 22
        static let noSpace: UInt32 = 28
        static let overflow: UInt32 = 75
        static let notSupported: UInt32 = 95
    }

    /// The one metadata context served: which ranges are holes (read as zeros, nothing stored).
    static let allocationContext = "base:allocation"
    static let allocationContextID: UInt32 = 1
    enum State {
        static let hole: UInt32 = 1 << 0
        static let zero: UInt32 = 1 << 1
    }

    /// The largest request served; larger ones are refused (EINVAL), as the protocol allows.
    static let maximumRequest = 32 << 20
    static let maximumOptionLength = 64 << 10
}
