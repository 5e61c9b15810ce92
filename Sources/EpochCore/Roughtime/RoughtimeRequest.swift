import Crypto

/// A client's request (RFC 10049 §5.1.1): VER, a 32-byte NONC, TYPE 0, optionally SRV, padded
/// with ZZZZ to at least 1024 bytes so that no reply can amplify it.
public struct RoughtimeRequest: Sendable {
    /// Requests shorter than this are dropped unread (anti-amplification, §5.1.1).
    public static let minimumSize = 1024
    public static let nonceSize = 32

    /// The whole datagram: the Merkle leaf is its hash.
    public let packet: [UInt8]
    public let nonce: [UInt8]
    public let version: RoughtimeVersion

    /// Parses and checks a request as a server must before answering it.
    ///
    /// - Parameter serverKeyHash: SRV for this server's long-term key; a request naming another
    ///   server is refused.
    public init(parsing packet: [UInt8], serverKeyHash: [UInt8]) throws(RoughtimeFormatError) {
        guard packet.count >= Self.minimumSize else {
            throw RoughtimeFormatError("too_short", "request of \(packet.count) bytes is under \(Self.minimumSize)")
        }
        let message = try RoughtimePacket.unframe(packet[...])
        guard let offered = try message.uint32List(.ver) else {
            throw RoughtimeFormatError("missing_ver", "request has no VER")
        }
        guard zip(offered, offered.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw RoughtimeFormatError("versions_unsorted", "request VER is not strictly ascending")
        }
        guard let version = RoughtimeVersion.negotiate(offered) else {
            throw RoughtimeFormatError("unsupported_version", "request offers no version this server speaks")
        }
        guard let nonce = message[.nonc] else { throw RoughtimeFormatError("missing_nonc", "request has no NONC") }
        guard nonce.count == Self.nonceSize else {
            throw RoughtimeFormatError("bad_nonce", "request NONC has \(nonce.count) bytes, not \(Self.nonceSize)")
        }
        switch try message.uint32(.type) {
        case nil where version.requiresType:
            throw RoughtimeFormatError("missing_type", "version \(version) request has no TYPE")
        case let type? where type != 0:
            throw RoughtimeFormatError("bad_type", "request TYPE is \(type), not 0")
        default: break
        }
        if let srv = message[.srv], srv != serverKeyHash {
            throw RoughtimeFormatError("wrong_server", "request SRV names another server's key")
        }
        self.packet = packet
        self.nonce = nonce
        self.version = version
    }

    /// A client's request: 1024 bytes offering `versions`, with `nonce`.
    public static func make(nonce: [UInt8], versions: [RoughtimeVersion] = RoughtimeVersion.supported) -> [UInt8] {
        precondition(nonce.count == nonceSize)
        let offered = versions.sorted().flatMap { RoughtimeMessage.bytes(uint32: $0.rawValue) }
        let fields: [(RoughtimeTag, [UInt8])] = [
            (.ver, offered), (.nonc, nonce), (.type, RoughtimeMessage.bytes(uint32: 0)),
        ]
        let unpadded = RoughtimeMessage(fields + [(.zzzz, [])])
        let padding = minimumSize - RoughtimePacket.headerSize - unpadded.encodedSize
        return RoughtimePacket.frame(RoughtimeMessage(fields + [(.zzzz, Array(repeating: 0, count: padding))]))
    }

    /// SRV: H(0xff ‖ public key), which names the server a request is meant for (§5.1.2).
    public static func serverKeyHash(_ publicKey: [UInt8]) -> [UInt8] {
        var hash = SHA512()
        hash.update(data: [0xFF] + publicKey)
        return Array(hash.finalize().prefix(RoughtimeMerkle.hashSize))
    }
}
