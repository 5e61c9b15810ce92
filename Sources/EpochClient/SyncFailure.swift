/// Why a measurement could not be made; each reads as one line after "epoch: ".
public enum SyncFailure: Error, CustomStringConvertible, Sendable {
    case unreachable(String)
    case timedOut(String)
    case badAnswer(String)

    public var description: String {
        switch self {
        case .unreachable(let text), .timedOut(let text), .badAnswer(let text): text
        }
    }
}
