import Testing

@testable import EpochCore

@Suite struct NTPTimestampTests {
    /// RFC 5905 §6: the Unix epoch is NTP second 2,208,988,800 (0x83AA7E80).
    @Test func theUnixEpochIsNTPSecond2208988800() {
        #expect(NTPTimestamp(unixNanoseconds: 0).bits == 0x83AA_7E80_0000_0000)
    }

    @Test func halfASecondIsHalfTheFraction() {
        #expect(NTPTimestamp(unixNanoseconds: 500_000_000).bits == 0x83AA_7E80_8000_0000)
        #expect(NTPTimestamp(unixNanoseconds: 1).bits & 0xFFFF_FFFF == 4)  // 2^32/10^9 = 4.29 units a ns
    }

    /// Era 0 ends at 2036-02-07T06:28:16Z (Unix 2,085,978,496): the seconds field wraps to 0, and a
    /// reader near that date still resolves the right Unix time.
    @Test func era1WrapsAndResolvesNearItsDate() {
        let wrap: Int64 = 2_085_978_496 * 1_000_000_000
        #expect(NTPTimestamp(unixNanoseconds: wrap).bits == 0)
        let afterWrap = wrap + 1_250_000_000
        #expect(NTPTimestamp(unixNanoseconds: afterWrap).unixNanoseconds(near: wrap - 10_000_000_000) == afterWrap)
    }

    @Test func roundTripsWithinANanosecond() {
        let now: Int64 = 1_796_114_096_123_456_789  // 2026-12-01
        let back = NTPTimestamp(unixNanoseconds: now).unixNanoseconds(near: now)
        #expect(abs(back - now) <= 1)
    }

    @Test func shortFormatRoundsBoundsUpAndSaturates() {
        #expect(NTPShort(nanoseconds: 16_000_000_000).bits == 0x0010_0000)  // this VM's 16 s maxerror
        #expect(NTPShort(nanoseconds: 1).bits == 1)  // never rounded to zero
        #expect(NTPShort(nanoseconds: 0).bits == 0)
        #expect(NTPShort(nanoseconds: -5).bits == 0)
        #expect(NTPShort(nanoseconds: Int64.max).bits == UInt32.max)
    }
}

@Suite struct NTPPacketTests {
    /// A chrony 4.3 client request, captured on loopback on 2026-12-01 (`chronyd -Q` against a
    /// UDP socket): LI 0, VN 4, mode 3, poll 6, precision 32 and a random transmit timestamp
    /// (chrony hides its clock in requests), everything else zero.
    static let chronyRequest: [UInt8] =
        [0x23, 0x00, 0x06, 0x20] + [UInt8](repeating: 0, count: 36)
        + [0x95, 0xEA, 0xEF, 0xF6, 0xF0, 0xEB, 0x95, 0x11]

    @Test func parsesAClientRequest() throws {
        let packet = try NTPPacket(parsing: Self.chronyRequest)
        #expect(packet.leap == .none && packet.version == 4 && packet.mode == .client)
        #expect(packet.poll == 6 && packet.precision == 32)
        #expect(packet.transmitTime.bits == 0x95EA_EFF6_F0EB_9511)
        #expect(packet.originTime == .zero && packet.receiveTime == .zero)
    }

    @Test func encodesTheFieldsInNetworkOrder() throws {
        let packet = NTPPacket(
            leap: .alarm, version: 4, mode: .server, stratum: 16, poll: 6, precision: -29,
            rootDelay: NTPShort(bits: 0x0001_8000), rootDispersion: NTPShort(bits: 0x0010_0000),
            referenceID: 0x4C4F_434C, referenceTime: NTPTimestamp(bits: 0x0102_0304_0506_0708),
            originTime: NTPTimestamp(bits: 0x1112_1314_1516_1718),
            receiveTime: NTPTimestamp(bits: 0x2122_2324_2526_2728),
            transmitTime: NTPTimestamp(bits: 0x3132_3334_3536_3738))
        let expected: [UInt8] =
            [0xE4, 0x10, 0x06, 0xE3, 0x00, 0x01, 0x80, 0x00, 0x00, 0x10, 0x00, 0x00, 0x4C, 0x4F, 0x43, 0x4C]
            + (1...8).map { UInt8($0) } + (0x11...0x18).map { UInt8($0) } + (0x21...0x28).map { UInt8($0) }
            + (0x31...0x38).map { UInt8($0) }
        #expect(packet.bytes == expected)
        #expect(try NTPPacket(parsing: expected) == packet)
    }

    @Test func everyLengthUnder48IsAnErrorNotATrap() {
        for length in 0..<NTPPacket.size {
            #expect(throws: NTPPacketError.tooShort(length)) {
                try NTPPacket(parsing: Self.chronyRequest.prefix(length))
            }
        }
    }

    /// Extension fields and MACs may follow the header; they are not read.
    @Test func readsOnlyTheHeaderOfALongerRequest() throws {
        let withMAC = Self.chronyRequest + [UInt8](repeating: 0xAB, count: 20)
        #expect(try NTPPacket(parsing: withMAC) == (try NTPPacket(parsing: Self.chronyRequest)))
    }

    @Test func stampsTheTransmitTimeIntoTheLastEightBytes() {
        var bytes = Self.chronyRequest
        NTPPacket.stamp(transmitTime: NTPTimestamp(bits: 0x0102_0304_0506_0708), into: &bytes)
        #expect(Array(bytes[40...]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(bytes[..<40] == Self.chronyRequest[..<40])
    }
}
