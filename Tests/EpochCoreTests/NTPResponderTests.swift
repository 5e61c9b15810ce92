import Testing

@testable import EpochCore

@Suite struct NTPResponderTests {
    static let synchronized = ClockDiscipline(
        state: .ok, status: 0x2001, maxErrorNanoseconds: 1_500_000, estimatedErrorNanoseconds: 20_000)
    /// What this VM's undisciplined kernel says.
    static let unsynchronized = ClockDiscipline(
        state: .error, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: 16_000_000_000,
        estimatedErrorNanoseconds: 16_000_000_000)
    static let receivedAt: Int64 = 1_796_114_096_000_000_000
    static let responder = NTPResponder(stratum: 3, precision: -29, serveUnsynchronized: false)

    static func request(firstByte: UInt8 = 0x23, length: Int = 48, transmit: UInt64 = 0x1D5B_7E2C_9201_A344) -> [UInt8]
    {
        var bytes = [firstByte, 0, 6, 0x20] + [UInt8](repeating: 0, count: max(0, length - 4))
        if length >= 48 { NTPPacket.stamp(transmitTime: NTPTimestamp(bits: transmit), into: &bytes) }
        return Array(bytes.prefix(length))
    }

    func reply(_ discipline: ClockDiscipline, by responder: NTPResponder = responder, to request: [UInt8] = request())
        -> NTPPacket?
    {
        guard
            case .reply(let packet) = responder.respond(
                to: request, receivedAt: Self.receivedAt, discipline: discipline)
        else { return nil }
        return packet
    }

    @Test func aSynchronizedServerAnswersMode4WithTheOriginEchoed() throws {
        let packet = try #require(reply(Self.synchronized))
        #expect(packet.mode == .server && packet.version == 4 && packet.leap == .none && packet.stratum == 3)
        #expect(packet.originTime.bits == 0x1D5B_7E2C_9201_A344)
        #expect(packet.receiveTime == NTPTimestamp(unixNanoseconds: Self.receivedAt))
        #expect(packet.poll == 6 && packet.precision == -29)
        #expect(packet.bytes.count == NTPPacket.size)
    }

    /// The kernel's max error is the root dispersion, rounded up (1.5 ms = 98.3 units of 2^-16 s).
    @Test func rootDispersionIsTheKernelsMaxError() throws {
        let packet = try #require(reply(Self.synchronized))
        #expect(packet.rootDispersion.bits == 99)
        #expect(packet.rootDelay.bits == 0)
    }

    @Test func anUnsynchronizedServerAnswersAlarmAndStratum16() throws {
        let packet = try #require(reply(Self.unsynchronized))
        #expect(packet.leap == .alarm && packet.stratum == 16)
        #expect(packet.rootDispersion.bits == 0x0010_0000)
        #expect(packet.referenceTime == .zero)
    }

    /// The control run of the alarm: the same unsynchronized reading with the lab flag.
    @Test func theLabFlagServesAnUnsynchronizedClockWithLeap0() throws {
        let lab = NTPResponder(stratum: 3, precision: -29, serveUnsynchronized: true)
        let packet = try #require(reply(Self.unsynchronized, by: lab))
        #expect(packet.leap == .none && packet.stratum == 3)
        #expect(packet.rootDispersion.bits == 0x0001_0000)  // 1 s: the kernel's 16 s cap would be refused
    }

    @Test func aPendingLeapSecondIsAnnounced() throws {
        var inserting = Self.synchronized
        inserting.state = .insertLeapSecond
        #expect(try #require(reply(inserting)).leap == .insertSecond)
        inserting.state = .deleteLeapSecond
        #expect(try #require(reply(inserting)).leap == .deleteSecond)
    }

    @Test func answersEachVersionInKind() throws {
        for version: UInt8 in 1...4 {
            let packet = try #require(reply(Self.synchronized, to: Self.request(firstByte: version << 3 | 3)))
            #expect(packet.version == version)
        }
    }

    @Test func dropsWhatIsNotAClientRequest() {
        let cases: [(UInt8, NTPDropReason)] = [
            (0x26, .controlMode), (0x27, .privateMode), (0x24, .notClientMode), (0x21, .notClientMode),
            (0x20, .notClientMode), (0x25, .notClientMode), (0x03, .badVersion), (0x2B, .badVersion),
            (0x3B, .badVersion),
        ]
        for (firstByte, reason) in cases {
            let decision = Self.responder.respond(
                to: Self.request(firstByte: firstByte), receivedAt: Self.receivedAt, discipline: Self.synchronized)
            #expect(decision == .drop(reason), "first byte \(firstByte)")
        }
    }

    @Test func dropsShortPacketsAndLengthsThatAreNot48PlusWords() {
        for request in [Self.request(length: 47), Self.request(length: 0)] {
            #expect(
                Self.responder.respond(to: request, receivedAt: Self.receivedAt, discipline: Self.synchronized)
                    == .drop(.tooShort))
        }
        for length in [49, 50, 51, 53, 71] {
            #expect(
                Self.responder.respond(
                    to: Self.request(length: length), receivedAt: Self.receivedAt, discipline: Self.synchronized)
                    == .drop(.badLength), "length \(length)")
        }
        // Control: 48 plus whole words (a MAC, extension fields) are read as a header.
        for length in [48, 52, 68, 96] {
            #expect(
                reply(Self.synchronized, to: Self.request(length: 48) + [UInt8](repeating: 0, count: length - 48))
                    != nil)
        }
    }

    /// RFC 4330 §5 and chrony: the classic SNTP request `0x1b` + 47 zero bytes is answered, its
    /// zero transmit time echoed as the origin.
    @Test func aZeroTransmitTimeIsAnsweredWithAZeroOrigin() throws {
        let classic: [UInt8] = [0x1B] + [UInt8](repeating: 0, count: 47)
        let packet = try #require(reply(Self.synchronized, to: classic))
        #expect(packet.mode == .server && packet.version == 3 && packet.originTime == .zero)
        #expect(packet.receiveTime == NTPTimestamp(unixNanoseconds: Self.receivedAt))
    }

    /// The state chrony leaves without `rtcsync`: TIME_ERROR and STA_UNSYNC, maxerror 2 ms. By the
    /// one rule (maxerror below the 16 s cap) it is synchronized: leap 0, the configured stratum.
    @Test func chronysStateWithoutRtcsyncIsServedAsSynchronized() throws {
        let chrony = ClockDiscipline(
            state: .error, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: 2_000_000,
            estimatedErrorNanoseconds: 100_000)
        let packet = try #require(reply(chrony))
        #expect(packet.leap == .none && packet.stratum == 3)
        #expect(packet.rootDispersion.nanoseconds >= 2_000_000 && packet.rootDispersion.nanoseconds < 2_100_000)
        // Control: the same reading at the 16 s cap is the alarm.
        var capped = chrony
        capped.maxErrorNanoseconds = 16_000_000_000
        #expect(try #require(reply(capped)).leap == .alarm)
        #expect(try #require(reply(capped)).stratum == 16)
    }

    @Test func aLeapSecondInProgressIsLeap3() throws {
        var inProgress = Self.synchronized
        inProgress.state = .leapSecondInProgress
        let packet = try #require(reply(inProgress))
        #expect(packet.leap == .alarm && packet.stratum == 3)
        // Control: after it (TIME_WAIT) the leap indicator is clear again.
        inProgress.state = .leapSecondOccurred
        #expect(try #require(reply(inProgress)).leap == .none)
    }

    @Test func theReferenceIDIsTheConfiguredOne() throws {
        let configured = NTPResponder(stratum: 3, precision: -29, serveUnsynchronized: false, referenceID: 0xC000_0201)
        #expect(try #require(reply(Self.synchronized, by: configured)).referenceID == 0xC000_0201)
        #expect(try #require(reply(Self.unsynchronized, by: configured)).referenceID == 0xC000_0201)
        #expect(try #require(reply(Self.synchronized)).referenceID == 0)  // control: the default
    }

    @Test func aRateKissIsStratum0WithTheCodeRATE() throws {
        let packet = try #require(reply(Self.synchronized))
        let kiss = NTPResponder.rateKiss(replacing: packet, minimumPollLog2: 3)
        #expect(kiss.stratum == 0 && kiss.leap == .alarm && kiss.mode == .server)
        #expect(Array(kiss.bytes[12..<16]) == Array("RATE".utf8))
        #expect(kiss.originTime == packet.originTime && kiss.poll == 6)
        #expect(kiss.bytes.count == NTPPacket.size)
    }

    @Test func precisionIsLog2OfTheResolutionRoundedUp() {
        #expect(NTPResponder.precision(resolutionNanoseconds: 1) == -29)
        #expect(NTPResponder.precision(resolutionNanoseconds: 1_000) == -19)
        #expect(NTPResponder.precision(resolutionNanoseconds: 4_000_000) == -7)
        #expect(NTPResponder.precision(resolutionNanoseconds: 1_000_000_000) == 0)
    }
}
