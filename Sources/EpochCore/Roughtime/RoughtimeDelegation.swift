import Crypto

/// The server's online key and the long-term key's certificate for it (CERT: DELE {PUBK, MINT,
/// MAXT} and SIG, RFC 10049 §5.2.6): the long-term key signs once per delegation, the online key
/// every batch, so the long-term key can stay off the hot path.
public struct RoughtimeDelegation: Sendable {
    public let onlineKey: Curve25519.Signing.PrivateKey
    /// Validity of the online key, in Unix seconds: replies are only valid with MINT ≤ MIDP ≤ MAXT.
    public let mint: UInt64
    public let maxt: UInt64
    /// The encoded CERT for each version: the delegation context string differs between them.
    private let certificates: [RoughtimeVersion: [UInt8]]

    public init(
        longTermKey: Curve25519.Signing.PrivateKey, onlineKey: Curve25519.Signing.PrivateKey = .init(),
        mint: UInt64, maxt: UInt64
    ) throws {
        self.onlineKey = onlineKey
        self.mint = mint
        self.maxt = maxt
        let dele = RoughtimeMessage([
            (.pubk, Array(onlineKey.publicKey.rawRepresentation)),
            (.mint, RoughtimeMessage.bytes(uint64: mint)),
            (.maxt, RoughtimeMessage.bytes(uint64: maxt)),
        ]).encoded()
        var certificates: [RoughtimeVersion: [UInt8]] = [:]
        for version in RoughtimeVersion.allCases {
            let signature = try longTermKey.signature(for: version.delegationContext + dele)
            certificates[version] = RoughtimeMessage([(.dele, dele), (.sig, Array(signature))]).encoded()
        }
        self.certificates = certificates
    }

    public func certificate(for version: RoughtimeVersion) -> [UInt8] { certificates[version]! }
}

/// Answers a batch of requests of one version from one Merkle tree and one signature.
public enum RoughtimeResponder {
    /// One reply per request, in order. `midpoint` is Unix seconds, `radius` seconds (at least 1).
    public static func respond(
        to requests: [RoughtimeRequest], version: RoughtimeVersion, delegation: RoughtimeDelegation,
        midpoint: UInt64, radius: UInt32
    ) throws -> [[UInt8]] {
        precondition(radius > 0, "RADI must not be zero")
        let tree = RoughtimeMerkle.Tree(leaves: requests.map { RoughtimeMerkle.leaf($0.packet) })
        let srep = RoughtimeMessage([
            (.ver, RoughtimeMessage.bytes(uint32: version.rawValue)),
            (.radi, RoughtimeMessage.bytes(uint32: radius)),
            (.midp, RoughtimeMessage.bytes(uint64: midpoint)),
            (.vers, RoughtimeVersion.supported.flatMap { RoughtimeMessage.bytes(uint32: $0.rawValue) }),
            (.root, tree.root),
        ]).encoded()
        let signature = Array(try delegation.onlineKey.signature(for: version.responseContext + srep))
        let certificate = delegation.certificate(for: version)
        return requests.indices.map { index in
            RoughtimePacket.frame(
                RoughtimeMessage([
                    (.sig, signature),
                    (.nonc, requests[index].nonce),
                    (.type, RoughtimeMessage.bytes(uint32: 1)),
                    (.path, tree.path(index)),
                    (.srep, srep),
                    (.cert, certificate),
                    (.indx, RoughtimeMessage.bytes(uint32: UInt32(index))),
                ]))
        }
    }
}
