import EpochCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOTLS

/// Where one TLS connection's key-log callback leaves its exporter secret. The callback belongs
/// to an NIOSSLContext made for this connection alone (NTSKEServer), so the secret it records can
/// only be this connection's: nothing has to be matched by client random across connections.
final class ExporterSecretSlot: Sendable {
    private let secret = NIOLockedValueBox<[UInt8]?>(nil)

    /// swift-nio-ssl's keyLogCallback: keeps the `EXPORTER_SECRET` line's secret, drops the rest.
    /// The line itself is never logged.
    func record(_ line: ByteBuffer) {
        guard let value = TLSExporter.exporterSecret(fromKeyLogLine: Array(line.readableBytesView)) else { return }
        secret.withLockedValue { $0 = value }
    }

    var exporter: TLSExporter? {
        secret.withLockedValue { value in value.flatMap { try? TLSExporter(exporterSecret: $0) } }
    }
}

/// One NTS-KE connection after the TLS handler (RFC 8915 §4): checks that ALPN chose `ntske/1`,
/// reads one request message (bounded in bytes, and in time by NTSKEServer's deadline), answers
/// it and closes. Each connection is counted once in `epoch_nts_ke_sessions_total`.
final class NTSKEHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let alpn = "ntske/1"

    private let slot: ExporterSecretSlot
    /// The cookie keyring as it is now (NTSKeyFiles reloads it when the file changes).
    private let cookieKeyring: @Sendable () -> NTSCookieKeyring
    private let metrics: NTSMetrics
    private let ntpPort: UInt16?
    private let deadline: TimeAmount
    /// Test-only (`--testing-nts-wrong-exporter-context`): XORed into the exporter context's
    /// direction byte, so that the keys differ from the client's: the e2e control.
    private let contextPerturbation: UInt8
    private let logger: Logger

    private var buffer: [UInt8] = []
    private var negotiated = false
    private var counted = false
    private var timeout: Scheduled<Void>?

    convenience init(
        slot: ExporterSecretSlot, keyFiles: NTSKeyFiles, metrics: NTSMetrics, ntpPort: UInt16?, deadline: TimeAmount,
        contextPerturbation: UInt8, logger: Logger
    ) {
        self.init(
            slot: slot, cookieKeyring: { keyFiles.keyring }, metrics: metrics, ntpPort: ntpPort, deadline: deadline,
            contextPerturbation: contextPerturbation, logger: logger)
    }

    /// With the keyring alone, no certificate files: for the fuzz target (Tests/Fuzz/nts-ke), which
    /// drives this handler on an EmbeddedChannel.
    init(
        slot: ExporterSecretSlot, cookieKeyring: @escaping @Sendable () -> NTSCookieKeyring, metrics: NTSMetrics,
        ntpPort: UInt16?, deadline: TimeAmount, contextPerturbation: UInt8, logger: Logger
    ) {
        self.slot = slot
        self.cookieKeyring = cookieKeyring
        self.metrics = metrics
        self.ntpPort = ntpPort
        self.deadline = deadline
        self.contextPerturbation = contextPerturbation
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The whole exchange, handshake included, gets one deadline: a slow or silent client
        // holds a connection no longer than this.
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: deadline) { [weak self] in
            self?.finish(context: context, .incomplete)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiatedProtocol) = event as? TLSUserEvent {
            guard negotiatedProtocol == Self.alpn else {
                finish(context: context, .alpnMismatch)
                return
            }
            negotiated = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard negotiated, !counted else { return }
        buffer += unwrapInboundIn(data).readableBytesView
        switch NTSKERecord.parseMessage(buffer) {
        case .incomplete:
            if buffer.count > NTSKEExchange.maxRequestBytes {
                respond(context: context, NTSKEExchange.error(.badRequest), end: .oversized)
            }
        case .trailingBytes:
            respond(context: context, NTSKEExchange.error(.badRequest), end: .oversized)
        case .complete(let records):
            let response = NTSKEExchange.respond(
                to: records, ntpPort: ntpPort,
                exportKeys: { [slot, contextPerturbation] algorithm in
                    slot.exporter?.ntsKeys(for: algorithm, contextPerturbation: contextPerturbation)
                },
                makeCookie: { [keyring = cookieKeyring()] keys in
                    keyring.seal(keys, nonce: NTSNTPService.random(NTSCookieKeyring.nonceByteCount))
                })
            respond(context: context, response, end: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context, .incomplete)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Before ALPN: the handshake failed. After: the stream broke before the exchange ended.
        logger.debug("NTS-KE connection error", metadata: ["error": "\(error)"])
        finish(context: context, negotiated ? .incomplete : .tlsError)
    }

    /// Writes the response, then closes (swift-nio-ssl sends close_notify first).
    private func respond(
        context: ChannelHandlerContext, _ response: NTSKEExchange.Response, end: NTSMetrics.SessionEnd?
    ) {
        guard !counted else { return }
        counted = true
        if let end { metrics.session(end) } else { metrics.session(response.outcome) }
        timeout?.cancel()
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: response.bytes)))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func finish(context: ChannelHandlerContext, _ end: NTSMetrics.SessionEnd) {
        guard !counted else { return }
        counted = true
        metrics.session(end)
        timeout?.cancel()
        context.close(promise: nil)
    }
}
