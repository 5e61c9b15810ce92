import Crypto
import EpochCore
import NIOConcurrencyHelpers

/// The long-term key and the current delegation to an online key. A new online key is made and
/// delegated once the current one has used half its validity, so a reply is never signed by a key
/// near MAXT; the swap is one assignment under the lock, and no request waits for it or is dropped.
package final class RoughtimeKeyring: Sendable {
    private let longTermKey: Curve25519.Signing.PrivateKey
    private let validitySeconds: UInt64
    private let current: NIOLockedValueBox<RoughtimeDelegation>

    /// SRV for this server: requests that carry another server's are refused.
    package let serverKeyHash: [UInt8]
    package var publicKey: Curve25519.Signing.PublicKey { longTermKey.publicKey }

    /// MINT lies this far before the delegation is made, so that a clock stepped back a little
    /// (by an NTP daemon) does not put MIDP before MINT.
    static let backdateSeconds: UInt64 = 60

    package init(longTermKey: Curve25519.Signing.PrivateKey, validity: Duration = .seconds(86_400), now: UInt64) throws
    {
        self.longTermKey = longTermKey
        self.validitySeconds = UInt64(max(2, validity.components.seconds))
        self.serverKeyHash = RoughtimeRequest.serverKeyHash(Array(longTermKey.publicKey.rawRepresentation))
        self.current = NIOLockedValueBox(
            try Self.delegate(longTermKey, now: now, validity: UInt64(max(2, validity.components.seconds))))
    }

    /// The delegation to sign with at `now` (Unix seconds), re-delegating first when it is due.
    /// `renewed` reports a re-delegation (for the log and the metric).
    package func delegation(now: UInt64, renewed: (() -> Void)? = nil) throws -> RoughtimeDelegation {
        let existing = current.withLockedValue { $0 }
        let renewAt = existing.mint + Self.backdateSeconds + validitySeconds / 2
        guard now >= renewAt || now < existing.mint else { return existing }
        let fresh = try Self.delegate(longTermKey, now: now, validity: validitySeconds)
        current.withLockedValue { $0 = fresh }
        renewed?()
        return fresh
    }

    private static func delegate(_ key: Curve25519.Signing.PrivateKey, now: UInt64, validity: UInt64) throws
        -> RoughtimeDelegation
    {
        try RoughtimeDelegation(
            longTermKey: key, mint: now > backdateSeconds ? now - backdateSeconds : 0, maxt: now + validity)
    }
}
