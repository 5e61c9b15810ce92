import ArgumentParser
import EpochCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An option given on the command line wins; otherwise its environment variable; otherwise the
/// default. ArgumentParser has no environment fallback of its own.
func resolve<Value>(
    _ flag: Value?, environment name: String, default fallback: Value, accepts: String,
    parse: (String) -> Value?
) throws -> Value {
    if let flag { return flag }
    guard let raw = getenv(name).map({ String(cString: $0) }), !raw.isEmpty else { return fallback }
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
