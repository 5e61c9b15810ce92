import EpochCore
import EpochTestSupport
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import EpochServer

/// Three paths that answer their own name, so that a test reads from the bytes which request an
/// answer belongs to.
enum EchoRoute: String, HTTPRoute {
    case a = "/a"
    case b = "/b"
    case c = "/c"
    case other

    init(path: Substring) { self = EchoRoute(rawValue: String(path)) ?? .other }
    var metricLabel: String { rawValue }
}

struct EchoRoutes: HTTPRoutes {
    func now() -> UnixNanoseconds { 1_700_000_000_000_000_000 }

    func response(to request: HTTPRequestSummary<EchoRoute>) -> Response {
        Response(status: .ok, contentType: "text/plain", body: ByteBuffer(string: request.route.rawValue))
    }
}

/// One server connection as `HTTPServer` builds it (ConnectionGuard, NIO's request decoder,
/// HTTPConnectionHandler) on an `EmbeddedChannel`: no socket, no thread, and the event loop's
/// clock moves only when a test advances it, so every timeout is exact and costs no real time.
/// A class, so that its end finishes the channel: an EmbeddedChannel left open keeps its pipeline
/// and handlers alive in a reference cycle, which LeakSanitizer reports (`make asan-test`).
final class EmbeddedConnection {
    static let requestTimeout = TimeAmount.seconds(10)
    static let idleTimeout = TimeAmount.seconds(75)
    static let maxRequestBytes = 64 * 1024
    static let sliceBytes = 4096

    let channel: EmbeddedChannel
    var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

    /// `sliceBytes` nil: the guard without backpressure, as `--no-backpressure` runs it.
    init(sliceBytes: Int? = EmbeddedConnection.sliceBytes) throws {
        channel = EmbeddedChannel()
        let guardHandler = ConnectionGuard(
            requestTimeout: Self.requestTimeout, maxRequestBytes: Self.maxRequestBytes,
            idleTimeout: Self.idleTimeout, sliceBytes: sliceBytes)
        let table = RouteTable(EchoRoutes())
        let state = LoopState(metrics: ServerMetrics(), routeLabels: table.labels)
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(guardHandler)
        try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try pipeline.addHandler(HTTPConnectionHandler(routes: table, loop: state, deadline: guardHandler))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
    }

    deinit {
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }

    /// Bytes from the client, as one read followed by its read-complete.
    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// Everything the server has written (and flushed) so far, as text.
    func received() throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    /// The bodies of the responses in `text`, in order (each answer of EchoRoutes is its path).
    static func bodies(_ text: String) -> [String] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { response in
            String(response[response.range(of: "\r\n\r\n")!.upperBound...])
        }
    }
}
