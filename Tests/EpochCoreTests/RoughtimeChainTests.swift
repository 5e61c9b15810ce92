import Crypto
import Testing

@testable import EpochCore

@Suite struct RoughtimeChainTests {
    func time(_ server: String, _ midpoint: UInt64, _ radius: UInt32 = 3) -> RoughtimeChain.SignedTime {
        RoughtimeChain.SignedTime(server: server, midpoint: midpoint, radius: radius)
    }

    @Test func theNextNonceIsTheFirst32BytesOfSHA512OfTheReplyThenRand() {
        let reply: [UInt8] = Array("ROUGHTIM".utf8) + [4, 0, 0, 0, 0, 0, 0, 0]
        let rand = [UInt8](repeating: 0xAB, count: 32)
        var hash = SHA512()
        hash.update(data: reply + rand)
        #expect(RoughtimeChain.nonce(previousResponse: reply, rand: rand) == Array(hash.finalize().prefix(32)))
        // The order matters: H(rand ‖ reply) is another nonce.
        #expect(
            RoughtimeChain.nonce(previousResponse: rand, rand: reply)
                != RoughtimeChain.nonce(previousResponse: reply, rand: rand))
    }

    @Test func honestServersTwiceInOrderAreConsistent() {
        let times = [
            time("a", 100, 17), time("b", 100, 17), time("c", 101, 17), time("a", 101, 17), time("b", 101, 17),
            time("c", 101, 17),
        ]
        #expect(RoughtimeChain.violations(times).isEmpty)
        #expect(RoughtimeChain.verdict(times) == .consistent)
    }

    @Test func touchingBoundsAreStillInOrder() {
        // MIDP_i − RADI_i == MIDP_j + RADI_j is allowed ("less than or equal", §8.2); one more second is not.
        #expect(RoughtimeChain.violations([time("a", 106), time("b", 100)]).isEmpty)
        #expect(RoughtimeChain.violations([time("a", 107), time("b", 100)]) == [.init(earlier: 0, later: 1)])
    }

    @Test func aServerAheadIsNamedByTheRepeatedRound() {
        // c is 60 s ahead with RADI 17: its first reply lies after the second round's a and b.
        let times = [
            time("a", 100, 17), time("b", 100, 17), time("c", 160, 17), time("a", 101, 17), time("b", 101, 17),
            time("c", 161, 17),
        ]
        #expect(RoughtimeChain.violations(times) == [.init(earlier: 2, later: 3), .init(earlier: 2, later: 4)])
        #expect(RoughtimeChain.verdict(times) == .liars(["c"]))
    }

    @Test func aServerBehindIsNamedToo() {
        let times = [time("a", 100), time("b", 40), time("c", 100), time("a", 101), time("b", 41), time("c", 101)]
        #expect(RoughtimeChain.verdict(times) == .liars(["b"]))
    }

    @Test func twoServersContradictingEachOtherCannotBeJudged() {
        // With two servers the chain shows a lie but not whose: either one alone explains it.
        let times = [time("a", 160), time("b", 100), time("a", 161), time("b", 101)]
        #expect(!RoughtimeChain.violations(times).isEmpty)
        #expect(RoughtimeChain.verdict(times) == .undecided(["a", "b"]))
    }

    @Test func theReportHoldsTheRFCKeysInBase64AndNoRandForTheFirstEntry() {
        let report = RoughtimeMalfeasanceReport(responses: [
            .init(rand: nil, request: [1, 2, 3], response: [4, 5], publicKey: [6]),
            .init(rand: [7], request: [8], response: [9], publicKey: [10]),
        ])
        #expect(
            report.json
                == "{\"responses\":[\n{\"request\":\"AQID\",\"response\":\"BAU=\",\"publicKey\":\"Bg==\"},\n"
                + "{\"rand\":\"Bw==\",\"request\":\"CA==\",\"response\":\"CQ==\",\"publicKey\":\"Cg==\"}\n]}\n")
    }
}
