import Testing

@testable import EpochCore

@Suite struct PayloadTests {
    @Test func epochKeepsTheOriginalShapeAndKeyOrder() {
        let body = Payload.epoch(host: "epoch-app-7d9f", time: 1_552_299_848_123_456_789, unit: .sec, rev: "574cb4c")
        #expect(body == #"{"host":"epoch-app-7d9f","type":"epoch","data":1552299848,"unit":"sec","rev":"574cb4c"}"#)
    }

    @Test(arguments: [
        (TimeUnit.sec, "1552299848"), (.ms, "1552299848123"), (.us, "1552299848123456"), (.ns, "1552299848123456789"),
    ])
    func epochInEveryUnit(unit: TimeUnit, data: String) {
        let body = Payload.epoch(host: "h", time: 1_552_299_848_123_456_789, unit: unit, rev: "r")
        #expect(body == #"{"host":"h","type":"epoch","data":\#(data),"unit":"\#(unit.rawValue)","rev":"r"}"#)
    }

    @Test func unitsRoundTowardThePastBefore1970() {
        #expect(TimeUnit.sec.count(ofNanoseconds: -1) == -1)
        #expect(TimeUnit.ms.count(ofNanoseconds: -1_500_000) == -2)
        #expect(TimeUnit.sec.count(ofNanoseconds: 0) == 0)
    }

    @Test func syncEchoesT1OrNullWithTheServersClock() {
        let clock = ClockDiscipline(
            state: .ok, status: 0x2001, maxErrorNanoseconds: 1_500_000, estimatedErrorNanoseconds: 20_000)
        #expect(
            Payload.sync(t1: 5, t2: 10, t3: 11, clock: clock, rev: "abc1234")
                == #"{"type":"sync","t1":5,"t2":10,"t3":11,"unit":"ns","clock":{"synchronized":true,"#
                + #""max_error_ns":1500000,"estimated_error_ns":20000,"state":"TIME_OK"},"rev":"abc1234"}"#)
        #expect(Payload.sync(t1: nil, t2: 10, t3: 11, clock: clock, rev: "r").contains(#""t1":null"#))
    }

    @Test func hostNamesAreEscapedAsJSON() {
        #expect(jsonStringLiteral("a\"b\\c\nd\u{1}") == #""a\"b\\c\nd\u0001""#)
        #expect(jsonStringLiteral("ünï") == "\"ünï\"")
    }

    @Test func errorsNameTheStatus() {
        #expect(Payload.error(status: 404, message: "no such path") == #"{"error":"no such path","status":404}"#)
    }
}

@Suite struct HTTPDateTests {
    @Test(arguments: [
        (Int64(0), "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),  // RFC 9110's example
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_795_607_339, "Wed, 25 Nov 2026 11:48:59 GMT"),
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
    ])
    func formatsIMFFixdate(seconds: Int64, expected: String) {
        #expect(httpDate(unixSeconds: seconds) == expected)
    }
}

@Suite struct QueryTests {
    @Test func defaultsToSeconds() throws {
        #expect(try Query(parsing: "") == Query(unit: .sec, t1: nil))
    }

    @Test func readsUnitAndT1AndIgnoresOthers() throws {
        #expect(try Query(parsing: "utm=x&unit=ms&t1=-42&&") == Query(unit: .ms, t1: -42))
    }

    @Test(arguments: ["unit=seconds", "unit=", "unit=SEC", "unit=ms%00", "unit"])
    func rejectsUnknownUnits(query: String) {
        #expect(throws: Query.Problem.self) { try Query(parsing: Substring(query)) }
    }

    @Test func rejectsNonIntegerT1() {
        #expect(throws: Query.Problem.invalidT1("1e9")) { try Query(parsing: "t1=1e9") }
        #expect(throws: Query.Problem.invalidT1("99999999999999999999")) {
            try Query(parsing: "t1=99999999999999999999")
        }
    }

    @Test func problemsNameTheAcceptedValues() {
        #expect(Query.Problem.invalidUnit("x").description == #"unit must be one of sec, ms, us, ns; got "x""#)
    }

    @Test func splitsTargets() {
        #expect(splitTarget("/sync?t1=1") == ("/sync", "t1=1"))
        #expect(splitTarget("/") == ("/", ""))
        #expect(splitTarget("/?") == ("/", ""))
        #expect(splitTarget("http://example.com/sync?t1=5") == ("/sync", "t1=5"))
        #expect(splitTarget("http://example.com:8080") == ("/", ""))
        #expect(splitTarget("http://example.com?unit=ms") == ("/", "unit=ms"))
        #expect(splitTarget("*") == ("*", ""))
    }
}

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("2s", .seconds(2)), ("1m", .seconds(60)), ("1h", .seconds(3600)),
        ("-2s", .seconds(-2)), ("+3s", .seconds(3)), ("1.5s", .milliseconds(1500)), ("250us", .microseconds(250)),
        ("10ns", .nanoseconds(10)), ("0", .zero),
    ])
    func parses(text: String, expected: Duration) {
        #expect(parseDuration(text) == expected)
    }

    @Test(arguments: ["", "s", "2", "2 s", "2sec", "--2s", "1e3s", "inf s", "99999999999h", "-", "2S"])
    func rejects(text: String) {
        #expect(parseDuration(text) == nil)
    }

    @Test func formatsWithTheLargestExactUnit() {
        #expect(formatDuration(.seconds(120)) == "2m")
        #expect(formatDuration(.milliseconds(1500)) == "1500ms")
        #expect(formatDuration(.zero) == "0s")
        #expect(formatDuration(.nanoseconds(-7)) == "-7ns")
    }
}

@Suite struct WallClockTests {
    @Test func skewShiftsTheReportedTime() {
        let skewed = WallClock(skew: .seconds(2)).now()
        let plain = WallClock().now()
        // Two readings a few instructions apart: the skewed one is ahead by about 2 s.
        #expect(abs(skewed - plain - 2_000_000_000) < 1_000_000_000)
    }
}
