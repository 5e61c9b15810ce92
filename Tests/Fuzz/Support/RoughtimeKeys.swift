import Crypto
import EpochCore

/// The keys the Roughtime targets sign and verify with: the long-term seed 00 01 … 1f of the
/// roughly 0.3.0 vectors (Tests/EpochCoreTests/RoughtimeVectors.swift), so that their replies
/// verify, and an online key from the seed 20 21 … 3f, which the server target signs with and the
/// client target signs changed replies with again.
public enum FuzzRoughtimeKeys {
    public static let longTerm = try! Curve25519.Signing.PrivateKey(rawRepresentation: (0..<32).map { UInt8($0) })
    public static let online = try! Curve25519.Signing.PrivateKey(rawRepresentation: (32..<64).map { UInt8($0) })
    /// MINT and MAXT of the delegation: 2026-12-01 ± a day, around the vectors' MIDP.
    public static let delegation = try! RoughtimeDelegation(
        longTermKey: longTerm, onlineKey: online, mint: 0x6B0E_868B - 86_400, maxt: 0x6B0E_868B + 86_400)
    /// The request every reply of the corpus answers, per version: NONC 32 × 0x02, as the vectors.
    public static func request(_ version: RoughtimeVersion) -> [UInt8] {
        RoughtimeRequest.make(nonce: [UInt8](repeating: 0x02, count: 32), versions: [version])
    }
}
