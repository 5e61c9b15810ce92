import EpochCore

/// RFC 10049 §8.2's measurement sequence: the servers queried one after the other, `rounds` times
/// in the same order (the RFC asks for two, so that a server is compared with the ones after it
/// as well as before), each nonce after the first chained to the reply before it.
///
/// Every reply must pass every check of a single exchange; a server that does not answer or
/// whose reply fails verification ends the sequence (§8.4: a report is never made of protocol
/// errors, only of validly signed times out of order).
public struct RoughtimeSequence: Sendable {
    public var sources: [RoughtimeSource]
    public var rounds: Int

    public init(sources: [RoughtimeSource], rounds: Int = 2) {
        self.sources = sources
        self.rounds = rounds
    }

    /// The chain's observations in the order received, and its report.
    public struct Result: Sendable {
        public var observations: [RoughtimeObservation]
        public var report: RoughtimeMalfeasanceReport

        /// The signed times in the order received, named by source.
        public var signedTimes: [RoughtimeChain.SignedTime] {
            observations.map {
                RoughtimeChain.SignedTime(
                    server: $0.measurement.source, midpoint: $0.reply.midpoint, radius: $0.reply.radius)
            }
        }

        public var verdict: RoughtimeChain.Verdict { RoughtimeChain.verdict(signedTimes) }
    }

    public func run() async throws(SyncFailure) -> Result {
        var generator = SystemRandomNumberGenerator()
        func random32() -> [UInt8] {
            (0..<RoughtimeRequest.nonceSize).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        }
        var observations: [RoughtimeObservation] = []
        var entries: [RoughtimeMalfeasanceReport.Entry] = []
        for _ in 0..<rounds {
            for source in sources {
                let rand = random32()
                let nonce =
                    observations.last.map { RoughtimeChain.nonce(previousResponse: $0.response, rand: rand) } ?? rand
                let observation = try await source.exchange(nonce: nonce)
                entries.append(
                    RoughtimeMalfeasanceReport.Entry(
                        rand: observations.isEmpty ? nil : rand, request: observation.request,
                        response: observation.response, publicKey: Array(source.publicKey.rawRepresentation)))
                observations.append(observation)
            }
        }
        return Result(observations: observations, report: RoughtimeMalfeasanceReport(responses: entries))
    }
}
