import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `--host` takes an IPv4 or IPv6 address literal, checked at parse time by the C library's own
/// reader of addresses (`inet_pton`), so that `epoch serve --host localhost` exits 2 with one line
/// instead of failing at bind time: the server binds numeric addresses and never resolves names.
enum IPAddressLiteral {
    static let accepts = "an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1 or ::"

    static func isValid(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// ArgumentParser's `transform`: the error's text ends its one-line message.
    static func parse(_ text: String) throws -> String {
        guard isValid(text) else { throw ValidationError("it accepts \(accepts)") }
        return text
    }
}
