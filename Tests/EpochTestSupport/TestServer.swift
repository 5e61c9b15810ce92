import EpochServer
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

// The in-process servers and raw connections the Swift tests of more than one target share
// (EpochServerTests, EpochClientTests): a test-only target, never part of a product.

/// A loopback configuration on an ephemeral port, with fixed host name and revision.
package func testConfiguration(_ configure: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
    var configuration = ServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.hostname = "test-host"
    configuration.revision = "abc1234"
    configuration.version = "9.9.9"
    configuration.eventLoopThreads = 1
    configure(&configuration)
    return configuration
}

/// Runs a real `EpochHTTPServer` on an ephemeral loopback port for the duration of `body`, then
/// drains it the way SIGTERM would (ServiceLifecycle's graceful shutdown).
package func withTestServer<Result: Sendable>(
    _ configuration: ServerConfiguration = testConfiguration(),
    clock: ClockState = ClockState(),
    _ body: @Sendable (TestServer, Int) async throws -> Result
) async throws -> Result {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let server = EpochHTTPServer(configuration: configuration, logger: logger, clock: clock)
    return try await withRunningService(server, bound: server.boundAddress, logger: logger) { group, port in
        try await body(TestServer(server: server, group: group), port)
    }
}

/// Runs `service` in its own ServiceGroup for the duration of `body`, which gets the group and the
/// port `bound` reports; then drains it the way SIGTERM would, or cancels it if `body` throws.
/// Every in-process server test (HTTP, Roughtime, NTP) runs its server through this.
package func withRunningService<Result: Sendable>(
    _ service: some Service, bound: EventLoopFuture<SocketAddress>, logger: Logger,
    _ body: @Sendable (ServiceGroup, Int) async throws -> Result
) async throws -> Result {
    let group = ServiceGroup(services: [service], logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let port = try await bound.get().port!
        do {
            let result = try await body(group, port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            tasks.cancelAll()
            throw error
        }
    }
}

package struct TestServer: Sendable {
    package let server: EpochHTTPServer
    package let group: ServiceGroup

    /// What SIGTERM does in the binary: ServiceLifecycle's graceful shutdown.
    package func drain() async { await group.triggerGracefulShutdown() }
}

/// A response as a client sees it, decoded by NIO's own `HTTPResponseDecoder`.
package struct ReceivedResponse {
    package var head: HTTPResponseHead
    package var body: String

    package var status: Int { Int(head.status.code) }
    package var headers: HTTPHeaders { head.headers }

    package func header(_ name: String) -> String? { head.headers.first(name: name) }
}

/// One raw TCP connection to the server: what is sent is exactly the bytes a test writes, so
/// malformed requests and pipelining can be expressed directly. What comes back is decoded by
/// NIO's `HTTPResponseDecoder` in the connection's pipeline. The decoder must know the request of
/// every response it may get (an answer to HEAD has no body): `send` tells it one per request line
/// the text holds, at least one. More than the server answers is harmless; an answer without a
/// request is the decoder's error, and so a test failure.
package final class RawConnection {
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    package private(set) var closedByServer = false

    private init(
        inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    ) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    package static func with<Result>(port: Int, _ body: (RawConnection) async throws -> Result) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        RawRequestWriter(), ByteToMessageHandler(HTTPResponseDecoder()),
                    ])
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(RawConnection(inbound: inbound, outbound: outbound))
        }
    }

    package func send(_ text: String) async throws {
        let method: HTTPMethod = text.hasPrefix("HEAD ") ? .HEAD : .GET
        let requests = max(1, text.split(separator: "HTTP/", omittingEmptySubsequences: false).count - 1)
        let head = HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: "/"))
        try await outbound.write(contentsOf: Array(repeating: head, count: requests))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
    }

    /// Reads the next complete response (head, then its body as framed by the server).
    package func readResponse() async throws -> ReceivedResponse {
        var head: HTTPResponseHead?
        var body = ByteBuffer()
        while let part = try await inbound.next() {
            switch part {
            case .head(let received):
                head = received
            case .body(var chunk):
                body.writeBuffer(&chunk)
            case .end:
                if let head { return ReceivedResponse(head: head, body: String(buffer: body)) }
            }
        }
        closedByServer = true
        throw ConnectionClosed()
    }

    /// Sends one request and reads its response.
    package func readResponse(_ request: String) async throws -> ReceivedResponse {
        try await send(request)
        return try await readResponse()
    }

    /// Reads a response to HEAD (sent as such): its content-length describes the body GET would send.
    package func readHead() async throws -> ReceivedResponse {
        try await readResponse()
    }

    /// Reads responses until the server closes the connection; returns them (none: it just closed).
    package func readUntilClosed() async throws -> [ReceivedResponse] {
        var responses: [ReceivedResponse] = []
        while true {
            do {
                responses.append(try await readResponse())
            } catch is ConnectionClosed {
                return responses
            }
        }
    }

    /// The server closed the connection before a complete response.
    package struct ConnectionClosed: Error {}
}

/// Between NIO's response decoder and the socket: a request head only tells the decoder what the
/// next answer responds to and goes no further; a body part is the test's raw bytes, sent as they are.
private final class RawRequestWriter: ChannelOutboundHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head, .end:
            promise?.succeed(())
        case .body(.byteBuffer(let bytes)):
            context.write(wrapOutboundOut(bytes), promise: promise)
        case .body(.fileRegion):
            promise?.fail(ChannelError.operationUnsupported)
        }
    }
}

package func get(_ target: String, _ extraHeaders: String = "") -> String {
    "GET \(target) HTTP/1.1\r\nHost: localhost\r\n\(extraHeaders)\r\n"
}

package typealias UDPClientChannel = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>

/// A UDP socket on loopback for the Roughtime and NTP tests to send datagrams from and read replies.
package func makeUDPClientChannel() async throws -> UDPClientChannel {
    try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0) { channel in
            channel.eventLoop.makeCompletedFuture {
                try UDPClientChannel(wrappingChannelSynchronously: channel)
            }
        }
}
