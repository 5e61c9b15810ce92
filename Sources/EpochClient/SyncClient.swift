import EpochCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How to sample a server.
public struct SamplingOptions: Sendable {
    public var samples = 8
    public var interval: Duration = .milliseconds(50)
    public var timeout: Duration = .seconds(5)
    /// A PEM file of CA certificates to trust for https:// instead of the system's.
    public var trustedCertificatesFile: String?

    public init() {}
}

/// The outcome of `SyncClient.measure`.
public struct SyncResult: Sendable {
    public var url: ServiceURL
    public var estimate: OffsetEstimate
    public var serverRevision: String?
}

/// Measures this machine's clock against an epoch service the NTP way, over one keep-alive
/// connection built directly on SwiftNIO, so that t1 and t4 are taken at the socket.
public enum SyncClient {
    public static func measure(_ url: ServiceURL, options: SamplingOptions) async throws(SyncFailure) -> SyncResult {
        do {
            return try await measureThrowing(url, options: options)
        } catch let failure as SyncFailure {
            throw failure
        } catch let error as NIOSSLError {
            throw .unreachable("TLS with \(url) failed: \(error)")
        } catch let error as NIOConnectionError {
            let reason = error.connectionErrors.first.map { reasonText($0.error) } ?? "\(error)"
            throw .unreachable("cannot reach \(url): \(reason)")
        } catch let error as IOError {
            throw .unreachable("cannot reach \(url): \(reasonText(error))")
        } catch ChannelError.connectTimeout {
            throw .timedOut("cannot reach \(url): no connection within \(formatDuration(options.timeout))")
        } catch {
            throw .unreachable("cannot reach \(url): \(error)")
        }
    }

    private static func measureThrowing(_ url: ServiceURL, options: SamplingOptions) async throws -> SyncResult {
        guard options.samples > 0 else { throw SyncFailure.badAnswer("no samples requested") }
        let clock = WallClock()
        let timeout = TimeAmount.nanoseconds(options.timeout.totalNanoseconds)
        let tls = url.scheme == .https ? try makeTLSContext(options) : nil
        let isAddress = url.host.contains(":") || url.host.allSatisfy { $0.isNumber || $0 == "." }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: url.host, port: url.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    let exchange = ExchangeClock(clock: clock)
                    try pipeline.addHandler(SocketTimestampHandler(exchange: exchange))
                    if let tls {
                        try pipeline.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : url.host))
                    }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(NIOHTTPClientResponseAggregator(maxContentLength: 64 * 1024))
                    try pipeline.addHandler(TimedResponseHandler(exchange: exchange))
                    return try NIOAsyncChannel<TimedResponse, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }

        return try await channel.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            var samples: [SyncSample] = []
            var wholeSeconds = false
            var revision: String?
            if url.scheme == .https {
                // The first exchange's socket times would include the TLS handshake, which runs
                // before the request is written: spend it on an exchange that is not sampled.
                _ = try await exchange(
                    "/healthz", url: url, outbound: outbound, responses: &responses, channel: channel.channel,
                    timeout: timeout)
            }
            while samples.count < options.samples {
                if !samples.isEmpty { try await Task.sleep(for: options.interval) }
                let path = wholeSeconds ? "/" : "/sync?t1=\(clock.now())"
                let timed = try await exchange(
                    path, url: url, outbound: outbound, responses: &responses, channel: channel.channel,
                    timeout: timeout)
                let location = "\(url)\(path.split(separator: "?")[0])"
                if timed.response.head.status == .notFound && !wholeSeconds {
                    wholeSeconds = true  // No /sync: an original go-microepoch server. Ask `/` instead.
                    continue
                }
                guard timed.response.head.status == .ok else {
                    throw SyncFailure.badAnswer("\(location) answered HTTP \(timed.response.head.status.code)")
                }
                let body = timed.response.body.map { Array($0.readableBytesView) } ?? []
                switch try Answer.parse(body, from: location) {
                case .sync(let answer):
                    guard
                        let sample = SyncSample.checked(
                            t1: timed.sentAt, t2: answer.t2, t3: answer.t3, t4: timed.receivedAt)
                    else {
                        throw SyncFailure.badAnswer(
                            "\(location) answered impossible times t2=\(answer.t2) t3=\(answer.t3)")
                    }
                    samples.append(sample)
                    revision = answer.rev
                case .wholeSeconds(let answer):
                    wholeSeconds = true
                    guard
                        let sample = wholeSecondSample(
                            t1: timed.sentAt, serverSeconds: answer.data, t4: timed.receivedAt)
                    else {
                        throw SyncFailure.badAnswer("\(location) answered an impossible time data=\(answer.data)")
                    }
                    samples.append(sample)
                    revision = answer.rev
                }
            }
            guard let estimate = estimateOffset(samples, resolution: wholeSeconds ? 1_000_000_000 : 0) else {
                throw SyncFailure.badAnswer("\(url) gave no samples")
            }
            return SyncResult(url: url, estimate: estimate, serverRevision: revision)
        }
    }

    /// Sends one GET and waits for its response; a timer closes the connection if the answer
    /// takes longer than `timeout` (the async iterator itself has no deadline).
    private static func exchange(
        _ path: String, url: ServiceURL, outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
        responses: inout NIOAsyncChannelInboundStream<TimedResponse>.AsyncIterator, channel: any Channel,
        timeout: TimeAmount
    ) async throws -> TimedResponse {
        var headers = HTTPHeaders()
        let host = url.host.contains(":") ? "[\(url.host)]" : url.host  // IPv6 in brackets (RFC 3986)
        headers.add(name: "host", value: url.port == (url.scheme == .https ? 443 : 80) ? host : "\(host):\(url.port)")
        headers.add(name: "user-agent", value: "epoch-sync")
        headers.add(name: "accept", value: "application/json")
        let timedOut = NIOLockedValueBox(false)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            try await outbound.write(contentsOf: [
                .head(HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target(path), headers: headers)),
                .end(nil),
            ])
        } catch {
            // The connection failed before the request went out (a TLS handshake error, say): the
            // inbound side carries the reason.
            do {
                _ = try await responses.next()
            } catch let reason as NIOSSLError {
                throw SyncFailure.unreachable("TLS with \(url) failed (does it serve https?): \(reason)")
            } catch {}
            throw SyncFailure.unreachable("\(url) closed the connection before the request was sent")
        }
        do {
            if let response = try await responses.next() { return response }
        } catch let error as NIOSSLError {
            throw SyncFailure.unreachable("TLS with \(url) failed (does it serve https?): \(error)")
        } catch  where !timedOut.withLockedValue({ $0 }) {
            throw SyncFailure.badAnswer("\(url) broke the connection: \(error)")
        } catch {}
        if timedOut.withLockedValue({ $0 }) {
            throw SyncFailure.timedOut("\(url) did not answer within \(timeoutText(timeout))")
        }
        throw SyncFailure.badAnswer("\(url) closed the connection without an answer")
    }

    private static func makeTLSContext(_ options: SamplingOptions) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let file = options.trustedCertificatesFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
            } catch {
                throw SyncFailure.unreachable("cannot read CA certificates from \(file): \(error)")
            }
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// "Connection refused" rather than NIO's full error description.
    private static func reasonText(_ error: any Error) -> String {
        guard let ioError = error as? IOError else { return "\(error)" }
        return String(cString: strerror(ioError.errnoCode)).lowercased()
    }

    private static func timeoutText(_ timeout: TimeAmount) -> String {
        formatDuration(.nanoseconds(timeout.nanoseconds))
    }
}
