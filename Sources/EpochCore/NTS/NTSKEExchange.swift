/// What the NTS-KE server answers to one request message (RFC 8915 §4.1): a pure function of the
/// record bytes, so that every rule is unit-tested and fuzzed without TLS. The keys come from the
/// TLS exporter and the cookies from the cookie keyring, both passed in.
public enum NTSKEExchange {
    /// The most request bytes read before End of Message: chrony's request is 12 bytes and a
    /// client that names a server and a port needs well under 1 KiB. More is a bad request.
    public static let maxRequestBytes = 1024
    /// Cookies per response (RFC 8915 §4.1.6: the client's supply for eight polls).
    public static let cookieCount = 8

    /// The outcome of one request, and the label `epoch_nts_ke_sessions_total` counts it by.
    public enum Outcome: String, Sendable, CaseIterable {
        /// Keys and cookies sent.
        case ok
        /// No protocol or no AEAD in common: answered with the empty record, no cookies.
        case noCommonAlgorithm = "no_common_algorithm"
        case unrecognizedCriticalRecord = "unrecognized_critical_record"
        case badRequest = "bad_request"
        /// The keys could not be made (no exporter secret): answered Internal Server Error.
        case internalError = "internal_error"
    }

    public struct Response: Sendable, Equatable {
        public var outcome: Outcome
        public var bytes: [UInt8]
    }

    /// The response to `records`, a complete message ending in End of Message.
    ///
    /// - `exportKeys`: the C2S and S2C keys for an algorithm (RFC 8915 §5.1), nil when the TLS
    ///   session has no exporter secret.
    /// - `makeCookie`: one sealed cookie for those keys.
    public static func respond(
        to records: [NTSKERecord], ntpPort: UInt16?, supported: [NTSAEADAlgorithm] = NTSAEADAlgorithm.preference,
        exportKeys: (NTSAEADAlgorithm) -> NTSSessionKeys?, makeCookie: (NTSSessionKeys) -> [UInt8]
    ) -> Response {
        var protocols: [UInt16]?
        var algorithms: [UInt16]?
        for record in records {
            switch NTSKERecordType(rawValue: record.type) {
            case .endOfMessage:
                guard record.body.isEmpty else { return error(.badRequest) }
            case .nextProtocol:
                // Exactly one, critical, a list of 16-bit IDs.
                guard protocols == nil, record.critical, let values = record.uint16Values else {
                    return error(.badRequest)
                }
                protocols = values
            case .aeadAlgorithm:
                guard algorithms == nil, let values = record.uint16Values else { return error(.badRequest) }
                algorithms = values
            case .error, .warning, .newCookie:
                // Only servers send these (§4.1.3, §4.1.4, §4.1.6).
                return error(.badRequest)
            case .server, .port:
                // A client's suggestion, which a server may ignore (§4.1.7, §4.1.8): this one
                // answers on its own address and NTP port.
                continue
            case nil:
                if record.critical { return error(.unrecognizedCriticalRecord) }
            }
        }
        guard let protocols, records.last?.type == NTSKERecordType.endOfMessage.rawValue else {
            return error(.badRequest)
        }
        guard protocols.contains(ntsNextProtocolNTPv4) else {
            return Response(
                outcome: .noCommonAlgorithm,
                bytes: NTSKERecord(critical: true, type: .nextProtocol).bytes + endOfMessage)
        }
        // NTPv4 needs an AEAD record (§4.1.5).
        guard let algorithms else { return error(.badRequest) }
        let protocolRecord = NTSKERecord(critical: true, type: .nextProtocol, body: [0, 0]).bytes
        guard let chosen = supported.first(where: { algorithms.contains($0.rawValue) }) else {
            return Response(
                outcome: .noCommonAlgorithm,
                bytes: protocolRecord + NTSKERecord(critical: true, type: .aeadAlgorithm).bytes + endOfMessage)
        }
        guard let keys = exportKeys(chosen) else { return error(.internalServerError) }
        var bytes = protocolRecord
        bytes += NTSKERecord(critical: true, type: .aeadAlgorithm, body: bigEndian(chosen.rawValue)).bytes
        for _ in 0..<cookieCount {
            bytes += NTSKERecord(critical: false, type: .newCookie, body: makeCookie(keys)).bytes
        }
        if let ntpPort {
            bytes += NTSKERecord(critical: true, type: .port, body: bigEndian(ntpPort)).bytes
        }
        return Response(outcome: .ok, bytes: bytes + endOfMessage)
    }

    /// An Error record and End of Message: the whole response to a request that cannot be served.
    public static func error(_ code: NTSKEErrorCode) -> Response {
        let outcome: Outcome =
            switch code {
            case .unrecognizedCriticalRecord: .unrecognizedCriticalRecord
            case .badRequest: .badRequest
            case .internalServerError: .internalError
            }
        return Response(
            outcome: outcome,
            bytes: NTSKERecord(critical: true, type: .error, body: bigEndian(code.rawValue)).bytes + endOfMessage)
    }

    static let endOfMessage = NTSKERecord(critical: true, type: .endOfMessage).bytes

    static func bigEndian(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
}

/// The two keys one NTS association uses, and the algorithm they are for.
public struct NTSSessionKeys: Sendable, Equatable {
    public var algorithm: NTSAEADAlgorithm
    /// Client to server: authenticates requests.
    public var c2s: [UInt8]
    /// Server to client: seals replies.
    public var s2c: [UInt8]

    public init(algorithm: NTSAEADAlgorithm, c2s: [UInt8], s2c: [UInt8]) {
        self.algorithm = algorithm
        self.c2s = c2s
        self.s2c = s2c
    }
}

extension NTSSessionKeys: CustomStringConvertible {
    /// Never the keys: a stray interpolation into a log line must not leak them.
    public var description: String { "NTSSessionKeys(\(algorithm), keys redacted)" }
}
