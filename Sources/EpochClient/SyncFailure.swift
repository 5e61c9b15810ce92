/// Why a measurement could not be made; each reads as one line after "epoch: ".
public enum SyncFailure: Error, CustomStringConvertible, Sendable {
    case unreachable(String)
    case timedOut(String)
    case badAnswer(String)
    /// Every exchange was rejected (RFC 5905 §8: a negative delay, or a local clock step).
    case inconsistent(String)

    public var description: String {
        switch self {
        case .unreachable(let text), .timedOut(let text), .badAnswer(let text), .inconsistent(let text): text
        }
    }
}
