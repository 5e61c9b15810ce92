/// Writes `value` as a JSON string literal, quotes included (RFC 8259 §7).
///
/// Only the host name and echoed client input pass through here; everything else the service
/// renders is numbers and fixed keys, so a hand-written escaper keeps JSONEncoder off the hot path.
public func jsonStringLiteral(_ value: String) -> String {
    var out = "\""
    out.reserveCapacity(value.utf8.count + 2)
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    out += "\""
    return out
}
