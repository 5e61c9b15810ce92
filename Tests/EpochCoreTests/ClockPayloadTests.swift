import Testing

@testable import EpochCore

/// The server's clock as `/sync`, `/clock` and `/readyz` render it.
@Suite struct ClockPayloadTests {
    /// This machine's reading: no NTP daemon, so TIME_ERROR, STA_UNSYNC and the 16 s cap.
    static let undisciplined = ClockDiscipline(
        state: .error, status: 0x0041, maxErrorNanoseconds: 16_000_000_000, estimatedErrorNanoseconds: 16_000_000_000)

    @Test func syncCarriesTheUnsynchronizedState() {
        let body = Payload.sync(t1: 1, t2: 2, t3: 3, clock: Self.undisciplined, rev: "r")
        #expect(
            body.contains(
                #""clock":{"synchronized":false,"max_error_ns":16000000000,"estimated_error_ns":16000000000,"#
                    + #""state":"TIME_ERROR"}"#))
    }

    @Test func clockNamesTheStatusBitsAndGivesTheReason() {
        let body = Payload.clock(Self.undisciplined)
        #expect(body.hasPrefix(#"{"synchronized":false,"max_error_ns":16000000000,"#))
        #expect(body.contains(#""status":65,"status_bits":["STA_PLL","STA_UNSYNC"],"reason":"the kernel clock is not"#))
        #expect(
            body.hasSuffix(
                "(maximum error 16s, at the 16s cap; TIME_ERROR, STA_UNSYNC set): no NTP daemon has disciplined it\"}"))
    }

    @Test func anUnreadableKernelHasNullErrorsAndState() {
        let body = Payload.clock(.unavailable("adjtimex: Operation not permitted"))
        #expect(
            body.hasPrefix(
                #"{"synchronized":false,"max_error_ns":null,"estimated_error_ns":null,"state":null,"status":64,"#))
        #expect(body.contains("Operation not permitted"))
    }

    @Test func notReadyCarriesTheReason() {
        #expect(
            Payload.notReady("clock unsynchronized", reason: "x") == #"{"status":"clock unsynchronized","reason":"x"}"#)
    }
}
