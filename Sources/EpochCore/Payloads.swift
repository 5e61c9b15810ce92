/// The JSON bodies the service answers with, rendered as text in a fixed key order.
///
/// Key order is part of the contract: go-microepoch's clients and dashboards match on
/// `{"host":…,"type":"epoch","data":…,"unit":…,"rev":…}` literally.
public enum Payload {
    /// `GET /`: the current time in `unit`.
    public static func epoch(host: String, time: UnixNanoseconds, unit: TimeUnit, rev: String) -> String {
        "{\"host\":\(jsonStringLiteral(host)),\"type\":\"epoch\",\"data\":\(unit.count(ofNanoseconds: time)),"
            + "\"unit\":\"\(unit.rawValue)\",\"rev\":\(jsonStringLiteral(rev))}"
    }

    /// `GET /sync`: the client's send time echoed (t1) with the server's receive (t2) and
    /// transmit (t3) times, the four-timestamp exchange of RFC 5905 §8.
    /// `clock` is the server's own clock discipline, so that the client can add the server's
    /// error to its bound (older servers leave it out; clients then report the error as unknown).
    public static func sync(
        t1: Int64?, t2: UnixNanoseconds, t3: UnixNanoseconds, clock: ClockDiscipline, rev: String
    ) -> String {
        "{\"type\":\"sync\",\"t1\":\(t1.map(String.init) ?? "null"),\"t2\":\(t2),\"t3\":\(t3),"
            + "\"unit\":\"ns\",\"clock\":\(clockSummary(clock)),\"rev\":\(jsonStringLiteral(rev))}"
    }

    /// The clock object of `/sync`: synchronized, max and estimated error (ns; null when the
    /// kernel could not be read) and the state's name.
    public static func clockSummary(_ clock: ClockDiscipline) -> String {
        let known = clock.failure == nil
        return "{\"synchronized\":\(clock.isSynchronized),"
            + "\"max_error_ns\":\(known ? String(clock.maxErrorNanoseconds) : "null"),"
            + "\"estimated_error_ns\":\(known ? String(clock.estimatedErrorNanoseconds) : "null"),"
            + "\"state\":\(clock.state.map { jsonStringLiteral($0.name) } ?? "null")}"
    }

    /// `GET /clock`: the summary plus the status bits (as the number and by name) and the reason.
    public static func clock(_ clock: ClockDiscipline) -> String {
        let summary = clockSummary(clock).dropLast()
        let names = clock.statusNames.map(jsonStringLiteral).joined(separator: ",")
        return "\(summary),\"status\":\(clock.status),\"status_bits\":[\(names)],"
            + "\"reason\":\(jsonStringLiteral(clock.reason))}"
    }

    /// `/readyz` while the instance should get no traffic, with the reason.
    public static func notReady(_ status: String, reason: String) -> String {
        "{\"status\":\(jsonStringLiteral(status)),\"reason\":\(jsonStringLiteral(reason))}"
    }

    /// `GET /version`.
    public static func version(version: String, rev: String, swift: String) -> String {
        "{\"version\":\(jsonStringLiteral(version)),\"rev\":\(jsonStringLiteral(rev)),"
            + "\"swift\":\(jsonStringLiteral(swift))}"
    }

    /// `/healthz` and `/readyz`.
    public static func status(_ status: String) -> String {
        "{\"status\":\(jsonStringLiteral(status))}"
    }

    /// Every 4xx/5xx answer: HTTP status code plus a sentence a person can act on.
    public static func error(status: Int, message: String) -> String {
        "{\"error\":\(jsonStringLiteral(message)),\"status\":\(status)}"
    }
}
