/// Why bytes from the wire are not a well-formed Roughtime packet or message. `reason` is a short
/// snake_case label, the same for every instance of a kind, so that the server can count drops by it.
public struct RoughtimeFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String

    public init(_ reason: String, _ description: String) {
        self.reason = reason
        self.description = description
    }
}
