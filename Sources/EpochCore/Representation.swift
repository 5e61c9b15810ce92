/// The two representations of `GET /`: the original JSON, or the page for people (issue 25).
/// `?format=` names one explicitly; otherwise the server negotiates by `Accept`.
public enum Representation: String, Sendable, CaseIterable {
    case json
    case html

    /// The accepted values, for error messages.
    public static let acceptedValues = allCases.map(\.rawValue).joined(separator: ", ")
}
