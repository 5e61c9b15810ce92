import FoundationEssentials

/// RFC 10049 §8.4's malfeasance report: the chain's requests and replies exactly as sent and
/// received, with the random values that chain each nonce to the reply before it and the keys
/// each server was expected to sign with. Anyone can re-verify it without trusting the client.
public struct RoughtimeMalfeasanceReport: Sendable {
    /// The media type of §12 for reports.
    public static let mediaType = "application/roughtime-malfeasance+json"

    public struct Entry: Sendable {
        /// The 32 bytes hashed with the previous reply into this request's nonce; nil for the first.
        public var rand: [UInt8]?
        public var request: [UInt8]
        public var response: [UInt8]
        public var publicKey: [UInt8]

        public init(rand: [UInt8]?, request: [UInt8], response: [UInt8], publicKey: [UInt8]) {
            self.rand = rand
            self.request = request
            self.response = response
            self.publicKey = publicKey
        }
    }

    public var responses: [Entry]

    public init(responses: [Entry]) { self.responses = responses }

    /// The report as JSON: `{"responses":[{"rand":…,"request":…,"response":…,"publicKey":…},…]}`,
    /// every value base64 (RFC 4648), "rand" left out of the first entry as §8.4 allows. Only the
    /// keys the RFC defines, so that any reader of the format can take it.
    public var json: String {
        let entries = responses.map { entry in
            var fields: [String] = []
            if let rand = entry.rand { fields.append("\"rand\":\"\(Data(rand).base64EncodedString())\"") }
            fields.append("\"request\":\"\(Data(entry.request).base64EncodedString())\"")
            fields.append("\"response\":\"\(Data(entry.response).base64EncodedString())\"")
            fields.append("\"publicKey\":\"\(Data(entry.publicKey).base64EncodedString())\"")
            return "{" + fields.joined(separator: ",") + "}"
        }
        return "{\"responses\":[\n" + entries.joined(separator: ",\n") + "\n]}\n"
    }
}
