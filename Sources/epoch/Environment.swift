import ArgumentParser
import EpochCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one environment resolver of every option: the flag given on the command line wins;
/// otherwise its environment variable (unset or empty: not given); otherwise the default.
/// ArgumentParser has no environment fallback of its own. A variable that does not parse is a
/// usage error naming it; range checks on the result name the option (`rangeError`).
func resolve<Value>(
    _ flag: Value?, environment name: String, default fallback: Value, accepts: String,
    parse: (String) -> Value?
) throws -> Value {
    if let flag { return flag }
    guard let raw = environmentValue(name) else { return fallback }
    guard let value = parse(raw) else {
        throw CommandFailure.usage("\(name)=\(raw) is invalid: it accepts \(accepts)")
    }
    return value
}

/// The same for an option without a default: nil when neither the flag nor the variable is set.
/// (Passing `default: nil` to the function above would make `Value` optional and wrap an absent
/// flag as `.some(nil)`, which skips the environment.)
func resolve<Value>(
    _ flag: Value?, environment name: String, accepts: String, parse: (String) -> Value?
) throws -> Value? {
    try resolve(flag.map { Optional($0) }, environment: name, default: nil, accepts: accepts) { raw in
        parse(raw).map { Optional($0) }
    }
}

/// A flag its environment variable can also turn on (`true`/`1`, `false`/`0`, any case).
func resolve(_ flag: Bool, environment name: String) throws -> Bool {
    try resolve(flag ? true : nil, environment: name, default: false, accepts: "true or false", parse: parseBool)
}

/// A port option, 0-65535, off (nil) unless given.
func resolvePort(_ flag: Int?, option: String, environment name: String) throws -> Int? {
    guard let port = try resolve(flag, environment: name, accepts: portAccepts, parse: { Int($0) }) else { return nil }
    try check(port, in: 0...65535, option: option, accepts: portAccepts)
    return port
}

/// A port option with a default.
func resolvePort(_ flag: Int?, option: String, environment name: String, default fallback: Int) throws -> Int {
    try resolvePort(flag, option: option, environment: name) ?? fallback
}

/// The one validation style: `--option VALUE is invalid: it accepts ...`.
func check<Value: Comparable>(_ value: Value, in range: ClosedRange<Value>, option: String, accepts: String) throws {
    guard range.contains(value) else {
        throw CommandFailure.usage("\(option) \(value) is invalid: it accepts \(accepts)")
    }
}

let portAccepts = "a port 0-65535"

/// An environment variable's value; nil when it is unset or empty.
func environmentValue(_ name: String) -> String? {
    guard let raw = getenv(name).map({ String(cString: $0) }), !raw.isEmpty else { return nil }
    return raw
}

/// The one spelling of a boolean in the environment: `true`/`1`, `false`/`0`, any case.
func parseBool(_ text: String) -> Bool? {
    ["true": true, "1": true, "false": false, "0": false][text.lowercased()]
}

/// A duration argument: `500ms`, `2s`, `1m`.
struct DurationArgument: ExpressibleByArgument, Sendable {
    let duration: Duration

    init?(argument: String) {
        guard let duration = parseDuration(argument) else { return nil }
        self.duration = duration
    }

    static let accepts = "a duration such as 500ms, 2s or 1m"
}

func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
    let length = buffer.firstIndex(of: 0) ?? buffer.count
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
