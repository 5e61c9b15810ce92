import EpochCore

/// The NTS path of the NTP server (RFC 8915 §5): NTPHandler hands it each request with the plain
/// NTP reply header, and sends whatever it says. Requests without NTS fields go on as plain NTP,
/// unless `--nts-required`.
public final class NTSNTPService: Sendable {
    /// The cookie keyring as it is now (NTSKeyFiles reloads it when the file changes).
    private let cookieKeyring: @Sendable () -> NTSCookieKeyring
    private let metrics: NTSMetrics
    private let required: Bool

    public convenience init(keyFiles: NTSKeyFiles, metrics: NTSMetrics, required: Bool) {
        self.init(cookieKeyring: { keyFiles.keyring }, metrics: metrics, required: required)
    }

    /// With the keyring alone, no certificate files: for the fuzz target (Tests/Fuzz/nts-ntp).
    package init(cookieKeyring: @escaping @Sendable () -> NTSCookieKeyring, metrics: NTSMetrics, required: Bool) {
        self.cookieKeyring = cookieKeyring
        self.metrics = metrics
        self.required = required
    }

    public enum Answer: Sendable {
        /// No NTS field: send the plain reply.
        case plain
        /// Send these bytes (the sealed reply, or an NTS NAK), counted as an NTP reply with this leap.
        case send([UInt8], leap: NTPPacket.Leap)
        /// Send nothing; already counted.
        case dropped
    }

    /// The answer to `request`, given the plain reply `header`. `transmitTime` reads the clock; it is
    /// read once, before sealing.
    func answer<Bytes: Collection>(to request: Bytes, header: NTPPacket, transmitTime: () -> NTPTimestamp) -> Answer
    where Bytes.Element == UInt8 {
        let responder = NTSNTPResponder(keyring: cookieKeyring())
        switch responder.respond(to: Array(request), header: header, transmitTime: transmitTime, random: Self.random) {
        case .unauthenticated:
            guard !required else {
                metrics.request(NTSMetrics.unauthenticatedRefused)
                return .dropped
            }
            return .plain
        case .reply(let bytes, _):
            metrics.request(NTSMetrics.authenticated)
            return .send(bytes, leap: header.leap)
        case .nak(let bytes):
            metrics.request(NTSNTPResponder.Failure.unknownCookie.rawValue)
            return .send(bytes, leap: .alarm)
        case .drop(let failure):
            metrics.request(failure.rawValue)
            return .dropped
        }
    }

    /// Nonces: the system's CSPRNG (getrandom on Linux).
    @Sendable static func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var word = generator.next()
            for _ in 0..<8 where index < count {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return bytes
    }
}
