import Testing

@testable import EpochCore

/// NTS-KE records (RFC 8915 §4) and the TLS exporter (RFC 8446 §7.5), against vectors made by
/// OpenSSL (pyOpenSSL's export_keying_material on a loopback handshake, its key log's secret).
@Suite struct NTSKETests {
    static let hex = AESSIVTests.hex
    /// chrony 4.3's request, captured: Next Protocol NTPv4, AEAD 15, End of Message.
    static let chronyRequest: [UInt8] = [0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0]

    static let keys = NTSSessionKeys(
        algorithm: .aesSIVCMAC256, c2s: [UInt8](repeating: 1, count: 32), s2c: [UInt8](repeating: 2, count: 32))

    static func respond(_ bytes: [UInt8], ntpPort: UInt16? = 1123) -> NTSKEExchange.Response {
        guard case .complete(let records) = NTSKERecord.parseMessage(bytes) else {
            return NTSKEExchange.Response(outcome: .badRequest, bytes: [])
        }
        return NTSKEExchange.respond(
            to: records, ntpPort: ntpPort,
            exportKeys: { algorithm in
                NTSSessionKeys(
                    algorithm: algorithm, c2s: [UInt8](repeating: 1, count: algorithm.keyByteCount),
                    s2c: [UInt8](repeating: 2, count: algorithm.keyByteCount))
            }, makeCookie: { _ in [0xC0, 0x0C, 0x1E, 0x5A] })
    }

    static func records(_ bytes: [UInt8]) -> [NTSKERecord] {
        guard case .complete(let records) = NTSKERecord.parseMessage(bytes) else { return [] }
        return records
    }

    @Test func chronysRequestGetsProtocolAEADEightCookiesAndThePort() {
        let response = Self.respond(Self.chronyRequest)
        #expect(response.outcome == .ok)
        let records = Self.records(response.bytes)
        #expect(records.map(\.type) == [1, 4] + [UInt16](repeating: 5, count: 8) + [7, 0])
        #expect(records[0] == NTSKERecord(critical: true, type: .nextProtocol, body: [0, 0]))
        #expect(records[1] == NTSKERecord(critical: true, type: .aeadAlgorithm, body: [0, 15]))
        #expect(records[2].body == [0xC0, 0x0C, 0x1E, 0x5A])
        #expect(records[10] == NTSKERecord(critical: true, type: .port, body: [0x04, 0x63]))
        #expect(records[11] == NTSKERecord(critical: true, type: .endOfMessage))
    }

    @Test func gcmSIVIsChosenWhenOffered() {
        let request: [UInt8] = [0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 4, 0, 15, 0, 30, 0x80, 0, 0, 0]
        #expect(Self.records(Self.respond(request).bytes)[1].body == [0, 30])
    }

    @Test func noCommonAEADGetsAnEmptyAEADRecordAndNoCookies() {
        let request: [UInt8] = [0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 1, 0x80, 0, 0, 0]
        let response = Self.respond(request)
        #expect(response.outcome == .noCommonAlgorithm)
        #expect(Self.records(response.bytes).map(\.type) == [1, 4, 0])
        #expect(Self.records(response.bytes)[1].body.isEmpty)
    }

    @Test(arguments: [
        // No Next Protocol record.
        ([0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0] as [UInt8], NTSKEExchange.Outcome.badRequest),
        // Two Next Protocol records.
        ([0x80, 1, 0, 2, 0, 0, 0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0], .badRequest),
        // Next Protocol without its critical bit.
        ([0x00, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0], .badRequest),
        // An odd-length AEAD list.
        ([0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 1, 15, 0x80, 0, 0, 0], .badRequest),
        // NTPv4 without an AEAD record.
        ([0x80, 1, 0, 2, 0, 0, 0x80, 0, 0, 0], .badRequest),
        // A client's Error record.
        ([0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 15, 0x80, 2, 0, 2, 0, 1, 0x80, 0, 0, 0], .badRequest),
        // An unknown critical record.
        ([0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 15, 0x80, 0x99, 0, 0, 0x80, 0, 0, 0], .unrecognizedCriticalRecord),
    ])
    func badRequestsGetAnErrorRecord(request: [UInt8], outcome: NTSKEExchange.Outcome) {
        let response = Self.respond(request)
        #expect(response.outcome == outcome)
        let records = Self.records(response.bytes)
        #expect(records.map(\.type) == [2, 0])
        #expect(records[0].body == [0, outcome == .unrecognizedCriticalRecord ? 0 : 1])
    }

    @Test func unknownNonCriticalRecordsAndClientSuggestionsAreIgnored() {
        let request: [UInt8] =
            [0x80, 1, 0, 2, 0, 0, 0x00, 0x99, 0, 1, 7, 0x00, 7, 0, 2, 0, 123, 0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0]
        #expect(Self.respond(request).outcome == .ok)
    }

    @Test func streamsAreIncompleteUntilEndOfMessageAndNothingMayFollow() {
        for cut in 0..<Self.chronyRequest.count {
            #expect(NTSKERecord.parseMessage(Array(Self.chronyRequest.prefix(cut))) == .incomplete)
        }
        #expect(NTSKERecord.parseMessage(Self.chronyRequest + [0]) == .trailingBytes)
    }

    // Made by OpenSSL 3 (pyOpenSSL): TLS_AES_256_GCM_SHA384, then TLS_AES_128_GCM_SHA256.
    @Test func exporterMatchesOpenSSLWithSHA384() throws {
        let secret = Self.hex(
            "559f2bdf0bb899250a098f5266b52cd65cf746db8c4ec69d0b2780eba1c8f7832dc6cd9ed285ed25a8815c181ddf0eb1")
        let keys = try TLSExporter(exporterSecret: secret).ntsKeys(for: .aesSIVCMAC256)
        #expect(keys.c2s == Self.hex("19d0f214ccb434d984795f6b2ce82e4f5cc4ff4f7a48b31e213d50f841491ebf"))
        #expect(keys.s2c == Self.hex("09fa478c224c1d7c10be40dc63d5f7ecf36c8eef86fdb4868bbb4d99b47bf05b"))
        // The test-only wrong context (the e2e control) changes both keys.
        let wrong = try TLSExporter(exporterSecret: secret).ntsKeys(for: .aesSIVCMAC256, contextPerturbation: 0x80)
        #expect(wrong.c2s != keys.c2s && wrong.s2c != keys.s2c)
    }

    @Test func exporterMatchesOpenSSLWithSHA256() throws {
        let secret = Self.hex("cf729cb327010f223bdfc287c66e07c7a227d05538fc4c18c8aa575408e6919e")
        let keys = try TLSExporter(exporterSecret: secret).ntsKeys(for: .aes128GCMSIV)
        #expect(keys.c2s == Self.hex("77175361652d022b2129ec933499919d"))
        #expect(keys.s2c == Self.hex("e1aa332cccc3ec09082af6f5adeb4fe0"))
    }

    @Test func keyLogLinesOtherThanTheExporterSecretAreIgnored() {
        #expect(TLSExporter.exporterSecret(fromKeyLogLine: Array("EXPORTER_SECRET 00ff 0a0b\n".utf8)) == [10, 11])
        #expect(TLSExporter.exporterSecret(fromKeyLogLine: Array("SERVER_TRAFFIC_SECRET_0 00ff 0a0b".utf8)) == nil)
        #expect(TLSExporter.exporterSecret(fromKeyLogLine: Array("EXPORTER_SECRET 00ff 0a0".utf8)) == nil)
    }

    @Test func sessionKeysNeverPrintTheirKeys() {
        #expect(!"\(Self.keys)".contains("1, 1"))
        #expect("\(NTSCookieKey(id: 7, key: [9, 9, 9]))" == "NTSCookieKey(id 7)")
    }

    /// 10,000 mutated and random record streams through the parser and the exchange: never a
    /// trap, always incomplete, trailing bytes or a response whose outcome is counted.
    @Test func tenThousandHostileStreams() {
        var generator = SystemRandomNumberGenerator()
        var outcomes: [String: Int] = [:]
        for round in 0..<10_000 {
            var bytes =
                round % 3 == 0
                ? (0..<Int.random(in: 0..<64, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                } : Self.chronyRequest
            for _ in 0..<Int.random(in: 1...3, using: &generator) where !bytes.isEmpty {
                switch Int.random(in: 0..<3, using: &generator) {
                case 0:
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = .random(in: 0...255, using: &generator)
                case 1:
                    bytes.insert(contentsOf: bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)), at: 0)
                default: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
                }
            }
            switch NTSKERecord.parseMessage(bytes) {
            case .incomplete: outcomes["incomplete", default: 0] += 1
            case .trailingBytes: outcomes["trailing", default: 0] += 1
            case .complete:
                let response = Self.respond(bytes)
                #expect(!response.bytes.isEmpty)
                outcomes[response.outcome.rawValue, default: 0] += 1
            }
        }
        #expect(outcomes.values.reduce(0, +) == 10_000)
        #expect(outcomes["ok", default: 0] > 0 && outcomes["bad_request", default: 0] > 0)
    }
}
