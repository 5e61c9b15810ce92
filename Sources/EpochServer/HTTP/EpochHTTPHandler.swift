import EpochCore
import NIOCore
import NIOHTTP1

/// Answers the requests of one connection, in order (NIO's pipelining handler in front holds
/// back a pipelined request until the previous response is written).
final class EpochHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private struct PendingRequest {
        let head: HTTPRequestHead
        let receivedAt: UnixNanoseconds
        let started: NIODeadline

        /// `Connection: upgrade` with `Upgrade:`: llhttp stops parsing after such a request.
        var asksForUpgrade: Bool {
            head.headers.contains(name: "upgrade")
                && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        }
    }

    private let application: EpochApplication
    private let cache: SecondCache
    private let deadline: RequestDeadlineHandler
    private var pending: PendingRequest?

    /// `deadline` is the same channel's handler, so it is only ever called on this event loop.
    init(application: EpochApplication, cache: SecondCache, deadline: RequestDeadlineHandler) {
        self.application = application
        self.cache = cache
        self.deadline = deadline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending = PendingRequest(head: head, receivedAt: application.clock.now(), started: .now())
        case .body:
            break  // No route takes a body; it is read and dropped.
        case .end:
            guard let request = pending else { return }
            pending = nil
            deadline.requestReceived()
            respond(to: request, context: context)
        }
    }

    /// NIO's protocol error handler has already answered 400 to a malformed request; closing the
    /// connection is left to the end of the pipeline, which is here.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func respond(to request: PendingRequest, context: ChannelHandlerContext) {
        let (path, query) = splitTarget(request.head.uri)
        let route = Route(path: path)
        cache.advance(to: request.receivedAt)
        if request.head.version == .http1_1 && !request.head.headers.contains(name: "host") {
            let response = application.missingHost()
            return write(response: response, route: route, request: request, context: context)
        }
        if route == .epoch {
            application.metrics.countEpochRequest()
            if query.isEmpty, request.head.method == .GET || request.head.method == .HEAD {
                return write(
                    head: cache.epochHead, body: cache.epochBody, route: route, request: request, context: context)
            }
        }
        let response = application.response(
            route: route, method: request.head.method, query: query, receivedAt: request.receivedAt)
        write(response: response, route: route, request: request, context: context)
    }

    private func write(response: Response, route: Route, request: PendingRequest, context: ChannelHandlerContext) {
        var headers = HTTPHeaders(
            SecondCache.standardHeaders(
                contentType: response.contentType, length: response.body.readableBytes, date: cache.dateHeader)
        )
        headers.add(contentsOf: response.extraHeaders)
        let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)
        write(head: head, body: response.body, route: route, request: request, context: context)
    }

    /// Writes one response.
    private func write(
        head: HTTPResponseHead, body: ByteBuffer, route: Route, request: PendingRequest, context: ChannelHandlerContext
    ) {
        var head = head
        // After CONNECT, or a request asking to upgrade the protocol, NIO's decoder treats the
        // connection as a tunnel and parses nothing more: answer it and close.
        let keepAlive = request.head.isKeepAlive && request.head.method != .CONNECT && !request.asksForUpgrade
        if !keepAlive {
            head.headers.replaceOrAdd(name: "connection", value: "close")
        } else if request.head.version.major == 1 && request.head.version.minor == 0 {
            head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.head.method != .HEAD && request.head.method != .CONNECT {  // bodiless by definition
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        record(route: route, code: head.status.code, since: request.started)
    }

    private func record(route: Route, code: UInt, since started: NIODeadline) {
        let key = ServerMetrics.SeriesKey(path: route, code: code)
        let series: ServerMetrics.RequestSeries
        if let cached = cache.series[key] {
            series = cached
        } else {
            series = application.metrics.series(path: route, code: code)
            cache.series[key] = series
        }
        series.requests.increment()
        series.duration.recordNanoseconds((NIODeadline.now() - started).nanoseconds)
    }
}
