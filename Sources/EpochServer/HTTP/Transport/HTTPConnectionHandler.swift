import EpochCore
import NIOCore
import NIOHTTP1

/// Answers the requests of one connection, in order, each as one pre-encoded buffer, and flushes
/// once per read batch.
///
/// Behind NIO's `HTTPRequestDecoder` and nothing else: every route answers synchronously, so a
/// response is written before the decoder hands over the next pipelined request, which keeps
/// pipelined order without NIO's pipelining handler. This handler does that handler's other job
/// too, quiescing on `ChannelShouldQuiesceEvent`: an idle connection closes at once, one in the
/// middle of a request closes after answering it.
final class HTTPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private struct PendingRequest {
        let head: HTTPRequestHead
        let receivedAt: UnixNanoseconds
        /// The event loop's clock, for the request's duration metric.
        let started: NIODeadline

        /// `Connection: upgrade` with `Upgrade:`: llhttp stops parsing after such a request.
        var asksForUpgrade: Bool {
            head.headers.contains(name: "upgrade")
                && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        }
    }

    private let routes: RouteTable
    private let loop: LoopState
    private let deadline: ConnectionGuard
    private var pending: PendingRequest?
    private var needsFlush = false
    private var quiescing = false
    /// A response that ends the connection has been written: nothing more is answered.
    private var closing = false

    /// `deadline` is the same channel's handler, so it is only ever called on this event loop.
    init(routes: RouteTable, loop: LoopState, deadline: ConnectionGuard) {
        self.routes = routes
        self.loop = loop
        self.deadline = deadline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending = PendingRequest(head: head, receivedAt: routes.now(), started: context.eventLoop.now)
        case .body:
            break  // No route takes a body; it is read and dropped.
        case .end:
            guard let request = pending else { return }
            pending = nil
            deadline.requestReceived()
            if !closing { respond(to: request, context: context) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        if pending == nil && !closing {
            closing = true
            context.close(promise: nil)
        } else {
            quiescing = true
        }
    }

    /// A decoder error is a malformed request: answer 400 and close, as NIO's protocol error
    /// handler did. Nothing of an earlier response can be half-written, since each is one write.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !closing else {
            closing = true
            return context.close(promise: nil)
        }
        let response = Response.error(
            .badRequest, "malformed HTTP request: \(error)", allocator: context.channel.allocator)
        let encoded = EncodedResponse(
            response, date: loop.cache.dateHeader, connection: .close, allocator: context.channel.allocator)
        writeAndClose(encoded.bytes, context: context)
        loop.metrics.record(
            method: .RAW(value: "unparsed"), route: routes.route("", "", HTTPHeaders()), code: 400, nanoseconds: 0)
    }

    private func respond(to request: PendingRequest, context: ChannelHandlerContext) {
        let head = request.head
        let (path, query) = splitTarget(head.uri)
        let route = routes.route(path, query, head.headers)
        loop.cache.follow(receivedAt: request.receivedAt, now: routes.now)
        // After CONNECT, or a request asking to upgrade the protocol, NIO's decoder treats the
        // connection as a tunnel and parses nothing more: answer it and close.
        let keepAlive = head.isKeepAlive && head.method != .CONNECT && !request.asksForUpgrade && !quiescing
        // Only HEAD's answer is bodiless here: CONNECT is never answered 2xx, and a refusal carries
        // the content its Content-Length announces (RFC 9110 §9.3.6).
        let withBody = head.method != .HEAD
        let encoded: EncodedResponse
        if head.version == .http1_1 && !head.headers.contains(name: "host") {
            // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without Host.
            let response = Response.error(
                .badRequest, "HTTP/1.1 requests must carry a Host header", allocator: context.channel.allocator)
            encoded = encode(response, keepAlive: keepAlive, version: head.version, context: context)
        } else if keepAlive && head.version == .http1_1 && routes.isCachedPerSecond(head.method, route, path, query) {
            let cache = loop.cache
            encoded = cache.response(for: route) {
                routes.response(head.method, route, path, query, cache.secondStart)
            }
        } else {
            let response = routes.response(head.method, route, path, query, request.receivedAt)
            encoded = encode(response, keepAlive: keepAlive, version: head.version, context: context)
        }
        let bytes = encoded.payload(withBody: withBody)
        if keepAlive {
            context.write(wrapOutboundOut(bytes), promise: nil)
            needsFlush = true
        } else {
            writeAndClose(bytes, context: context)
        }
        loop.metrics.record(
            method: head.method, route: route, code: encoded.status,
            nanoseconds: (context.eventLoop.now - request.started).nanoseconds)
    }

    private func encode(
        _ response: Response, keepAlive: Bool, version: HTTPVersion, context: ChannelHandlerContext
    ) -> EncodedResponse {
        let connection: EncodedResponse.Connection =
            !keepAlive ? .close : (version.major == 1 && version.minor == 0 ? .keepAlive : .implicit)
        return EncodedResponse(
            response, date: loop.cache.dateHeader, connection: connection, allocator: context.channel.allocator)
    }

    private func writeAndClose(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        closing = true
        needsFlush = false
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// What one event loop keeps for all its connections: the per-second cache and its request
/// series. Confined to the loop.
final class LoopState {
    let cache = SecondCache()
    let metrics: LoopRequestMetrics

    init(metrics: ServerMetrics, routeLabels: [String]) {
        self.metrics = LoopRequestMetrics(metrics: metrics, routeLabels: routeLabels)
    }
}
