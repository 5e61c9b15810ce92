import EpochFuzzSupport
import Logging
import NIOCore
import NIOEmbedded
import Prometheus

@testable import EpochCore
@testable import EpochServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The NTP door with NTS (RFC 8915 §5): one datagram through the server's NTP handler (NTPHandler:
// NTPResponder, then NTSNTPService with NTSNTPResponder, the cookie keyring and the metrics) on an
// EmbeddedChannel, once with NTS optional and a synchronized clock, once with NTS required and an
// unsynchronized clock served anyway. The keyring is real and fixed, so that the seeds' cookies,
// sealed by the same code (`EPOCH_FUZZ_WRITE_SEEDS=DIR fuzz-nts-ntp` writes them), open: the
// fuzzer starts past the cookie and reaches the authenticator, the placeholders and the sealing.
// Invariants: no trap; every datagram either answered once or counted once as dropped
// (epoch_ntp_dropped_packets_total or epoch_ntp_nts_requests_total), every answer counted in
// epoch_ntp_replies_total; no reply larger than its request; an authenticated reply verifies as a
// client verifies it (the Unique Identifier echoed, the authenticator opened with the S2C key of
// the request's cookie, 1 to 8 cookies inside that open to the same keys); a NAK only for a cookie
// no key opens; with NTS required, nothing without NTS is answered.

let keyring = try! NTSCookieKeyring(keys: [
    NTSCookieKey(id: 0x4550_4F43, key: (0..<32).map { UInt8($0) }),
    NTSCookieKey(id: 0x4550_4F42, key: (32..<64).map { UInt8($0) }),
])
let registry = PrometheusCollectorRegistry()
let logger = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }
let ntpMetrics = NTPMetrics(registry: registry)
let ntsMetrics = NTSMetrics(registry: registry)
let synchronized = ClockDiscipline(
    state: .ok, status: 0x2001, maxErrorNanoseconds: 1_500_000, estimatedErrorNanoseconds: 20_000)
let unsynchronized = ClockDiscipline(
    state: .error, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: 16_000_000_000,
    estimatedErrorNanoseconds: 16_000_000_000)

struct Server {
    var handler: NTPHandler
    var required: Bool
}

let servers = [(synchronized, false), (unsynchronized, true)].map { discipline, required in
    Server(
        handler: NTPHandler(
            responder: NTPResponder(stratum: 2, precision: -29, serveUnsynchronized: required),
            wallClock: WallClock(), clock: ClockState(source: FixedClockDiscipline(discipline)),
            metrics: ntpMetrics, logger: logger,
            nts: NTSNTPService(cookieKeyring: { keyring }, metrics: ntsMetrics, required: required)),
        required: required)
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let request = fuzzInput(data, size)
    let fields = request.count > NTPPacket.size ? NTPExtensionField.parseAll(request, from: NTPPacket.size) : nil
    let carriesNTS = fields?.contains { NTPExtensionField.ntsTypes.contains($0.type) } ?? false
    for server in servers {
        let before = counters()
        let replies = exchange(request, server.handler)
        let after = counters()
        let delta = { (series: String) in after[series, default: 0] - before[series, default: 0] }
        let answered = delta("epoch_ntp_replies_total")
        let dropped = delta("epoch_ntp_dropped_packets_total")
        let authenticated = delta("epoch_ntp_nts_requests_total{result=\"authenticated\"}")
        let naks = delta("epoch_ntp_nts_requests_total{result=\"nak_unknown_cookie\"}")
        let refused = delta("epoch_ntp_nts_requests_total") - authenticated - naks
        require(replies.count <= 1, "\(replies.count) replies to one datagram")
        require(answered == replies.count, "\(replies.count) replies counted as \(answered)")
        require(
            replies.count + dropped + refused == 1,
            "\(replies.count) replies, \(dropped) drops and \(refused) NTS refusals for one datagram")
        require(authenticated + naks <= replies.count, "an NTS answer counted but not sent")
        guard let reply = replies.first else { continue }
        require(reply.count <= request.count, "a \(reply.count)-byte reply to \(request.count) bytes")
        require((try? NTPPacket(parsing: reply))?.mode == .server, "a reply that is not a server packet")
        if authenticated == 1 {
            verify(reply, request: request, fields: fields ?? [])
        } else if naks == 1 {
            checkNAK(reply, request: request, fields: fields ?? [])
        } else {
            require(!carriesNTS, "NTS fields answered without NTS")
            require(!server.required, "an unauthenticated request answered with NTS required")
            require(reply.count == NTPPacket.size, "a plain reply of \(reply.count) bytes")
        }
    }
    #if EPOCH_FUZZ_PLANTED_BUG
    // Planted bug (the control): once the request's cookie opens, its authenticator's nonce is
    // copied by the length the field declares, without checking that the field holds it. The
    // fuzzer must keep the cookie intact and make that length run past the datagram.
    if let data, let fields,
        let cookie = fields.first(where: { $0.type == NTPExtensionField.ntsCookie }), keyring.open(cookie.body) != nil,
        let authenticator = fields.first(where: { $0.type == NTPExtensionField.ntsAuthenticator })
    {
        let start = authenticator.range.lowerBound + 4
        let nonceLength = Int(data[start]) << 8 | Int(data[start + 1])
        var nonce = [UInt8](repeating: 0, count: nonceLength)
        _ = nonce.withUnsafeMutableBytes { memcpy($0.baseAddress!, data + start + 4, nonceLength) }
        plantedSink &+= nonce.first ?? 0
    }
    #endif
    return 0
}

/// The datagram through `handler`; the replies it wrote.
func exchange(_ request: [UInt8], _ handler: NTPHandler) -> [[UInt8]] {
    let channel = EmbeddedChannel()
    var replies: [[UInt8]] = []
    do {
        try channel.pipeline.syncOperations.addHandler(handler)
        let client = try SocketAddress(ipAddress: "127.0.0.1", port: 40_123)
        try channel.writeInbound(
            AddressedEnvelope(remoteAddress: client, data: channel.allocator.buffer(bytes: request)))
        while let envelope = try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) {
            require(envelope.remoteAddress == client, "a reply to \(envelope.remoteAddress)")
            replies.append(Array(envelope.data.readableBytesView))
        }
    } catch {
        require(false, "the handler raised \(error)")
    }
    _ = try? channel.finish(acceptAlreadyClosed: true)
    return replies
}

/// Verifies an authenticated reply as a client does (RFC 8915 §5.7).
func verify(_ reply: [UInt8], request: [UInt8], fields: [NTPExtensionField]) {
    guard let cookie = fields.first(where: { $0.type == NTPExtensionField.ntsCookie }),
        let session = keyring.open(cookie.body),
        let uniqueIdentifier = fields.first(where: { $0.type == NTPExtensionField.uniqueIdentifier })
    else {
        require(false, "an authenticated reply to a request without an open cookie and a Unique Identifier")
        return
    }
    guard let replyFields = NTPExtensionField.parseAll(reply, from: NTPPacket.size), replyFields.count == 2,
        replyFields[0].type == NTPExtensionField.uniqueIdentifier,
        replyFields[1].type == NTPExtensionField.ntsAuthenticator
    else {
        require(false, "an authenticated reply of other fields")
        return
    }
    require(
        reply[replyFields[0].range] == request[uniqueIdentifier.range], "the Unique Identifier is not echoed")
    guard let (nonce, ciphertext) = NTSNTPResponder.authenticatorParts(replyFields[1].body),
        let plaintext = session.algorithm.open(
            ciphertext, key: session.s2c, nonce: nonce,
            associatedData: Array(reply[..<replyFields[1].range.lowerBound])),
        let inner = NTPExtensionField.parseAll(plaintext, from: 0)
    else {
        require(false, "the reply's authenticator does not open with the S2C key")
        return
    }
    require(
        (1...NTSNTPResponder.maxCookies).contains(inner.count)
            && inner.allSatisfy { $0.type == NTPExtensionField.ntsCookie && keyring.open($0.body) == session },
        "the reply carries \(inner.count) fields that are not cookies for the session")
}

/// An NTS NAK (RFC 8915 §5.7): a Kiss-o'-Death NTSN with the Unique Identifier, for a cookie no key opens.
func checkNAK(_ reply: [UInt8], request: [UInt8], fields: [NTPExtensionField]) {
    let cookie = fields.first { $0.type == NTPExtensionField.ntsCookie }
    require(cookie.map { keyring.open($0.body) == nil } ?? false, "a NAK for a cookie that opens")
    let packet = try? NTPPacket(parsing: reply)
    require(packet?.referenceID == 0x4E54_534E && packet?.stratum == 0, "a NAK that is not a kiss NTSN")
    let uniqueIdentifier = fields.first { $0.type == NTPExtensionField.uniqueIdentifier }
    require(
        uniqueIdentifier.map { Array(reply[NTPPacket.size...]) == Array(request[$0.range]) } ?? false,
        "a NAK without the Unique Identifier")
}

/// The NTP and NTS counters: each series, and each family's total under its bare name.
func counters() -> [String: Int] {
    var text: [UInt8] = []
    registry.emit(into: &text)
    var values: [String: Int] = [:]
    for line in String(decoding: text, as: UTF8.self).split(separator: "\n") where line.hasPrefix("epoch_ntp_") {
        let parts = line.split(separator: " ")
        guard parts.count == 2, let value = Double(parts[1]) else { continue }
        let series = String(parts[0])
        values[series, default: 0] += Int(value)
        if let brace = series.firstIndex(of: "{") { values[String(series[..<brace]), default: 0] += Int(value) }
    }
    return values
}

#if EPOCH_FUZZ_PLANTED_BUG
nonisolated(unsafe) var plantedSink: UInt8 = 0
#endif

if let folder = getenv("EPOCH_FUZZ_WRITE_SEEDS") {
    writeSeeds(to: String(cString: folder))
} else {
    runLibFuzzer(fuzzOneInput)
}
