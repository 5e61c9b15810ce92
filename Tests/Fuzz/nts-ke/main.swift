import EpochCore
import EpochFuzzSupport
import Logging
import NIOCore
import NIOEmbedded
import NIOTLS
import Prometheus

@testable import EpochServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The NTS-KE door (RFC 8915 §4): the bytes a client sends after the TLS handshake, through the
// server's own connection handler (NTSKEHandler: its buffer and bound, NTSKERecord's parser,
// NTSKEExchange's answer, the cookie keyring, the metrics) on an EmbeddedChannel, with a real
// exporter secret so that keys and cookies are made. TLS itself is swift-nio-ssl's (BoringSSL,
// fuzzed upstream). Input: [chunk size][flags] then the client's bytes, which arrive in reads of
// the chunk size (0: all in one read). Flags: bits 0-1, the handshake's outcome (0: ALPN ntske/1,
// 1: http/1.1, 2: no ALPN, 3: no handshake event at all); bit 2, no exporter secret (the
// internal-error path); bit 3, a SHA-384 exporter secret (else SHA-256); bit 4, the connection
// ends by the deadline (else the client closes); bit 5, no NTP port configured.
// Invariants: no trap; at most one write, then the connection closes; every connection counted
// exactly once in epoch_nts_ke_sessions_total; every write a whole message of records ending in
// End of Message, no larger than the largest answer, and one of the answers RFC 8915 allows: an
// Error record, or Next Protocol NTPv4 with the AEAD the client offered, 8 cookies that open to
// the keys the exporter gives, the Port, or the empty records of "nothing in common"; a request
// that is whole, oversized or followed by more bytes is always answered.

let logger = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }
let registry = PrometheusCollectorRegistry()
let metrics = NTSMetrics(registry: registry)
let keyring = try! NTSCookieKeyring(keys: [
    NTSCookieKey(id: 0x4550_4F43, key: (0..<32).map { UInt8($0) }),
    NTSCookieKey(id: 0x4550_4F42, key: (32..<64).map { UInt8($0) }),
])
let ntpPort: UInt16 = 1123
/// Key-log lines as BoringSSL writes them: a 32-byte (SHA-256) and a 48-byte (SHA-384) secret.
let keyLogLines = [32, 48].map { length in
    "EXPORTER_SECRET " + String(repeating: "ab", count: 32) + " "
        + (0..<length).map { String(UInt8(0x40 + $0), radix: 16) }.joined() + "\n"
}
let exporters = [32, 48].map { length in try! TLSExporter(exporterSecret: (0..<length).map { UInt8(0x40 + $0) }) }
/// The largest answer: Next Protocol, AEAD, 8 cookies of the largest algorithm, Port, End of Message.
let largestAnswer =
    6 + 6 + NTSKEExchange.cookieCount
    * (4 + NTSAEADAlgorithm.allCases.map { NTSCookieKeyring.cookieByteCount(for: $0) }.max()!)
    + 6 + 4

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let (chunkSize, flags, bytes) = connectionInput(fuzzInput(data, size)) else { return 0 }
    let before = sessionsCounted()
    let (written, closed) = exchange(bytes, chunkSize: chunkSize, flags: flags)
    require(sessionsCounted() == before + 1, "a connection counted \(sessionsCounted() - before) times")
    require(written.count <= 1, "\(written.count) writes on one connection")
    if let answer = written.first {
        require(closed, "the connection stays open after the answer")
        check(answer, request: bytes, flags: flags)
    }
    let negotiated = flags & 3 == 0
    let answerDue: Bool
    switch NTSKERecord.parseMessage(bytes) {
    case .complete, .trailingBytes: answerDue = true
    case .incomplete: answerDue = bytes.count > NTSKEExchange.maxRequestBytes
    }
    require(written.isEmpty || negotiated, "an answer without ALPN ntske/1")
    require(!negotiated || !answerDue || !written.isEmpty, "a whole or oversized request got no answer")
    #if EPOCH_FUZZ_PLANTED_BUG
    // Planted bug (the control): the request's records are walked again and each Port record's value
    // is copied out and read as two bytes whatever its length: past the copy when a Port record is
    // shorter than two bytes or ends the input short. The fuzzer must shorten a Port record (the
    // gcm-siv-server-port seed's is 2 bytes) or end a request inside one.
    if let data {
        var index = 2
        while size - index >= 4 {
            let type = (UInt16(data[index]) << 8 | UInt16(data[index + 1])) & 0x7FFF
            let length = Int(data[index + 2]) << 8 | Int(data[index + 3])
            if type == NTSKERecordType.port.rawValue {
                let copied = min(length, size - index - 4)
                let value = UnsafeMutablePointer<UInt8>.allocate(capacity: copied)
                value.initialize(from: data + index + 4, count: copied)
                plantedSink &+= value[0] &+ value[1]
                value.deallocate()
            }
            index += 4 + length
        }
    }
    #endif
    return 0
}

/// One connection: the handshake event the flags say, `bytes` in reads of `chunkSize`, then the
/// deadline or the client's close. Returns what the server wrote and whether it closed.
func exchange(_ bytes: ArraySlice<UInt8>, chunkSize: Int, flags: UInt8) -> (written: [[UInt8]], closed: Bool) {
    let slot = ExporterSecretSlot()
    if flags & 4 == 0 {
        slot.record(ByteBuffer(string: keyLogLines[flags & 8 == 0 ? 0 : 1]))
    }
    let handler = NTSKEHandler(
        slot: slot, cookieKeyring: { keyring }, metrics: metrics, ntpPort: flags & 32 == 0 ? ntpPort : nil,
        deadline: .seconds(5), contextPerturbation: 0, logger: logger)
    var connection = FuzzConnection()
    let channel = connection.channel
    do {
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
        switch flags & 3 {
        case 0:
            channel.pipeline.fireUserInboundEventTriggered(
                TLSUserEvent.handshakeCompleted(negotiatedProtocol: "ntske/1"))
        case 1:
            channel.pipeline.fireUserInboundEventTriggered(
                TLSUserEvent.handshakeCompleted(negotiatedProtocol: "http/1.1"))
        case 2: channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil))
        default: break
        }
        try connection.writeInbound(bytes, chunkSize: chunkSize)
        if flags & 16 != 0 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        }
        connection.collect()
    } catch {
        connection.collect()
    }
    // Closed by the server, before the client's own close below.
    let closed = !channel.isActive
    _ = try? channel.finish(acceptAlreadyClosed: true)
    connection.collect()
    return (connection.written, closed)
}

/// The answer is one of those RFC 8915 §4 allows, and what it hands out works.
func check(_ answer: [UInt8], request: ArraySlice<UInt8>, flags: UInt8) {
    require(answer.count <= largestAnswer, "a \(answer.count)-byte answer")
    guard case .complete(let records) = NTSKERecord.parseMessage(answer) else {
        require(false, "an answer that is not one message: \(answer.prefix(64))")
        return
    }
    let types = records.map(\.type)
    let endOfMessage = NTSKERecord(critical: true, type: .endOfMessage)
    require(records.last == endOfMessage, "an answer that does not end in End of Message")
    if types.first == NTSKERecordType.error.rawValue {
        // Every refusal is an Error record with a code RFC 8915 §7.7 defines.
        require(records.count == 2 && records[0].critical, "an Error answer of \(types)")
        require(
            records[0].uint16Values.flatMap { $0.count == 1 ? NTSKEErrorCode(rawValue: $0[0]) : nil } != nil,
            "an Error record \(records[0].body)")
        return
    }
    require(types.first == NTSKERecordType.nextProtocol.rawValue && records[0].critical, "an answer of \(types)")
    if records[0].body.isEmpty {
        require(records.count == 2, "no common protocol, yet \(types)")
        return
    }
    require(records[0].body == [0, 0], "Next Protocol \(records[0].body)")
    require(records.count >= 3 && types[1] == NTSKERecordType.aeadAlgorithm.rawValue, "an answer of \(types)")
    guard let chosen = records[1].uint16Values?.first.flatMap(NTSAEADAlgorithm.init(rawValue:)) else {
        require(records[1].body.isEmpty && records.count == 3, "AEAD \(records[1].body) in \(types)")
        return
    }
    // The client offered it: its request holds an AEAD record that names it.
    guard let requestRecords = firstMessage(request) else {
        require(false, "keys for a request without End of Message")
        return
    }
    let offered = requestRecords.first { $0.type == NTSKERecordType.aeadAlgorithm.rawValue }?.uint16Values ?? []
    require(offered.contains(chosen.rawValue), "AEAD \(chosen) chosen from \(offered)")
    let cookies = records.filter { $0.type == NTSKERecordType.newCookie.rawValue }
    require(cookies.count == NTSKEExchange.cookieCount, "\(cookies.count) cookies")
    let keys = exporters[flags & 8 == 0 ? 0 : 1].ntsKeys(for: chosen)
    for cookie in cookies {
        require(!cookie.critical && keyring.open(cookie.body) == keys, "a cookie that does not open to the keys")
    }
    let port = records.first { $0.type == NTSKERecordType.port.rawValue }
    require(
        port?.body == (flags & 32 == 0 ? [UInt8(ntpPort >> 8), UInt8(ntpPort & 0xFF)] : nil),
        "Port \(String(describing: port?.body))")
    require(
        records.count == 3 + cookies.count + (port == nil ? 0 : 1), "records beyond the answer's: \(types)")
}

/// The records of the first message in `bytes`, up to its End of Message (the handler answers the
/// first whole message a read completes, whatever follows).
func firstMessage(_ bytes: ArraySlice<UInt8>) -> [NTSKERecord]? {
    var index = bytes.startIndex
    while bytes.endIndex - index >= 4 {
        let type = (UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])) & 0x7FFF
        index += 4 + (Int(bytes[index + 2]) << 8 | Int(bytes[index + 3]))
        if type == NTSKERecordType.endOfMessage.rawValue, index <= bytes.endIndex {
            guard case .complete(let records) = NTSKERecord.parseMessage(bytes[..<index]) else { return nil }
            return records
        }
    }
    return nil
}

/// epoch_nts_ke_sessions_total, all results together.
func sessionsCounted() -> Int {
    var text: [UInt8] = []
    registry.emit(into: &text)
    var total = 0.0
    for line in String(decoding: text, as: UTF8.self).split(separator: "\n")
    where line.hasPrefix("epoch_nts_ke_sessions_total{") {
        total += Double(line.split(separator: " ").last ?? "") ?? 0
    }
    return Int(total)
}

#if EPOCH_FUZZ_PLANTED_BUG
nonisolated(unsafe) var plantedSink: UInt8 = 0
#endif

runLibFuzzer(fuzzOneInput)
