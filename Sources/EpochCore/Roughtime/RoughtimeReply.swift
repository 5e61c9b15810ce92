import Crypto

/// A reply that passed every check of RFC 10049 §5.4, and the time it signs.
public struct RoughtimeReply: Sendable, Equatable {
    public var version: RoughtimeVersion
    /// MIDP: the server's time, in Unix seconds.
    public var midpoint: UInt64
    /// RADI: the server's bound on MIDP's error, in seconds.
    public var radius: UInt32
    /// The delegation's validity, in Unix seconds.
    public var mint: UInt64
    public var maxt: UInt64

    /// Verifies `reply` to `request` (the exact bytes sent) under the pinned long-term key.
    /// Each failure names the check that failed, in one line.
    public init(verifying reply: [UInt8], request: [UInt8], publicKey: Curve25519.Signing.PublicKey)
        throws(RoughtimeFormatError)
    {
        let sent = try RoughtimePacket.unframe(request[...])
        let offered = try sent.uint32List(.ver) ?? []
        let message: RoughtimeMessage
        do {
            message = try RoughtimePacket.unframe(reply[...])
        } catch {
            throw RoughtimeFormatError(error.reason, "malformed reply: \(error.description)")
        }
        if let type = try message.uint32(.type), type != 1 {
            throw RoughtimeFormatError("bad_type", "reply TYPE is \(type), not 1 (response)")
        }
        guard try message.required(.nonc, in: "reply") == sent[.nonc] else {
            throw RoughtimeFormatError("nonce_mismatch", "reply nonce does not match the request's")
        }
        let srepBytes = try message.required(.srep, in: "reply")
        let srep = try message.nested(.srep, in: "reply")
        guard let versionNumber = try srep.uint32(.ver) else {
            throw RoughtimeFormatError("missing_ver", "reply SREP has no VER")
        }
        guard let version = RoughtimeVersion(rawValue: versionNumber), offered.contains(versionNumber) else {
            throw RoughtimeFormatError(
                "unsupported_version", "reply version 0x\(String(versionNumber, radix: 16)) was not offered")
        }
        if version.requiresType, try message.uint32(.type) == nil {
            throw RoughtimeFormatError("missing_type", "version \(version) reply has no TYPE")
        }
        if let versions = try srep.uint32List(.vers) {
            guard zip(versions, versions.dropFirst()).allSatisfy({ $0 < $1 }), versions.contains(versionNumber) else {
                throw RoughtimeFormatError("bad_vers", "reply VERS is not ascending or lacks the reply's version")
            }
        }
        let certificate = try message.nested(.cert, in: "reply")
        let deleBytes = try certificate.required(.dele, in: "reply CERT")
        let dele = try certificate.nested(.dele, in: "reply CERT")
        let delegationSignature = try certificate.required(.sig, in: "reply CERT")
        guard publicKey.isValidSignature(delegationSignature, for: version.delegationContext + deleBytes) else {
            throw RoughtimeFormatError(
                "delegation_signature", "delegation signature does not verify under the given public key")
        }
        let onlineKey: Curve25519.Signing.PublicKey
        do {
            onlineKey = try Curve25519.Signing.PublicKey(rawRepresentation: try dele.required(.pubk, in: "DELE"))
        } catch {
            throw RoughtimeFormatError("bad_pubk", "reply DELE PUBK is not an Ed25519 public key")
        }
        guard
            onlineKey.isValidSignature(
                try message.required(.sig, in: "reply"), for: version.responseContext + srepBytes)
        else {
            throw RoughtimeFormatError(
                "response_signature", "response signature does not verify under the delegated key")
        }
        guard let index = try message.uint32(.indx) else {
            throw RoughtimeFormatError("missing_indx", "reply has no INDX")
        }
        let path = try message.required(.path, in: "reply")
        let root = try srep.required(.root, in: "reply SREP")
        guard RoughtimeMerkle.root(leaf: RoughtimeMerkle.leaf(request), index: index, path: path) == root else {
            throw RoughtimeFormatError("merkle_path", "Merkle path does not lead from the request to the signed ROOT")
        }
        guard let midpoint = try srep.uint64(.midp), let radius = try srep.uint32(.radi) else {
            throw RoughtimeFormatError("missing_midp", "reply SREP lacks MIDP or RADI")
        }
        guard radius > 0 else { throw RoughtimeFormatError("zero_radi", "reply RADI is zero") }
        guard let mint = try dele.uint64(.mint), let maxt = try dele.uint64(.maxt) else {
            throw RoughtimeFormatError("missing_mint", "reply DELE lacks MINT or MAXT")
        }
        guard mint <= midpoint, midpoint <= maxt else {
            throw RoughtimeFormatError(
                "midp_outside_delegation", "MIDP \(midpoint) lies outside the delegation's MINT..MAXT \(mint)..\(maxt)")
        }
        self.version = version
        self.midpoint = midpoint
        self.radius = radius
        self.mint = mint
        self.maxt = maxt
    }
}
