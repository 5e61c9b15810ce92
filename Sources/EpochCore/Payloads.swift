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
    public static func sync(t1: Int64?, t2: UnixNanoseconds, t3: UnixNanoseconds, rev: String) -> String {
        "{\"type\":\"sync\",\"t1\":\(t1.map(String.init) ?? "null"),\"t2\":\(t2),\"t3\":\(t3),"
            + "\"unit\":\"ns\",\"rev\":\(jsonStringLiteral(rev))}"
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
