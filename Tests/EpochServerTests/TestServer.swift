import EpochServer
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A loopback configuration on an ephemeral port, with fixed host name and revision.
func testConfiguration(_ configure: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
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
func withTestServer<Result: Sendable>(
    _ configuration: ServerConfiguration = testConfiguration(),
    _ body: @Sendable (TestServer, Int) async throws -> Result
) async throws -> Result {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let server = EpochHTTPServer(configuration: configuration, logger: logger)
    let group = ServiceGroup(services: [server], logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let port = try await server.boundAddress.get().port!
        do {
            let result = try await body(TestServer(server: server, group: group), port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            tasks.cancelAll()
            throw error
        }
    }
}

struct TestServer: Sendable {
    let server: EpochHTTPServer
    let group: ServiceGroup

    /// What SIGTERM does in the binary: ServiceLifecycle's graceful shutdown.
    func drain() async { await group.triggerGracefulShutdown() }
}

/// A parsed HTTP/1.1 response as a client sees it.
struct ReceivedResponse {
    var statusLine: String
    var headers: [(String, String)]
    var body: String

    var status: Int { Int(statusLine.split(separator: " ")[1])! }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// One raw TCP connection to the server: what is sent is exactly the bytes a test writes, so
/// malformed requests and pipelining can be expressed directly.
final class RawConnection {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var pending = ""
    private(set) var closedByServer = false

    private init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>)
    {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    static func with<Result>(port: Int, _ body: (RawConnection) async throws -> Result) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(RawConnection(inbound: inbound, outbound: outbound))
        }
    }

    func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    /// Reads one complete response (head plus `content-length` bytes of body).
    func readResponse() async throws -> ReceivedResponse {
        while true {
            if let response = takeResponse() { return response }
            guard try await readMore() else { throw ConnectionClosed(received: pending) }
        }
    }

    /// Sends one request and reads its response.
    func readResponse(_ request: String) async throws -> ReceivedResponse {
        try await send(request)
        return try await readResponse()
    }

    /// Reads until the server closes the connection; returns everything not yet consumed.
    func readUntilClosed() async throws -> String {
        while try await readMore() {}
        defer { pending = "" }
        return pending
    }

    struct ConnectionClosed: Error { var received: String }

    private func readMore() async throws -> Bool {
        guard let chunk = try await inbound.next() else {
            closedByServer = true
            return false
        }
        pending += String(buffer: chunk)
        return true
    }

    private func takeResponse() -> ReceivedResponse? {
        guard let headEnd = pending.range(of: "\r\n\r\n") else { return nil }
        let lines = pending[..<headEnd.lowerBound].components(separatedBy: "\r\n")
        let headers = lines.dropFirst().map { line -> (String, String) in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
        }
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
        let bodyStart = headEnd.upperBound
        let available = pending.utf8[bodyStart...].count
        // A HEAD answer carries content-length but no body: callers of HEAD use `readHead`.
        guard available >= length || skipBodyOnce else { return nil }
        let bodyLength = skipBodyOnce ? 0 : length
        let bodyEnd = pending.utf8.index(bodyStart, offsetBy: bodyLength)
        let response = ReceivedResponse(
            statusLine: lines[0], headers: headers, body: String(pending[bodyStart..<bodyEnd]))
        pending = String(pending[bodyEnd...])
        skipBodyOnce = false
        return response
    }

    private var skipBodyOnce = false

    /// Reads a response to HEAD: its content-length describes the body GET would send.
    func readHead() async throws -> ReceivedResponse {
        skipBodyOnce = true
        return try await readResponse()
    }
}

func get(_ target: String, _ extraHeaders: String = "") -> String {
    "GET \(target) HTTP/1.1\r\nHost: localhost\r\n\(extraHeaders)\r\n"
}
