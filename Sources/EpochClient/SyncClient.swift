import EpochCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

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
    /// Read the URL's HTTP `Date` header instead of an epoch answer (`epoch sync --date-header`).
    public var dateHeader = false
    /// The longest a whole-second source is sampled: the bisection of its second boundary stops
    /// at the first round that would end later.
    public var wholeSecondBudget: Duration = .seconds(4)

    public init() {}
}

/// The outcome of `SyncClient.measure`.
public struct SyncResult: Sendable {
    public var url: ServiceURL
    public var kind: SourceKind
    /// The offset with the bound to the server's clock as it reads: the network's share and the
    /// server's resolution, not the server's own error.
    public var estimate: OffsetEstimate
    public var serverRevision: String?
    /// What the server says about its own clock; nil from a server that does not say.
    public var serverClock: ServerClock?
    /// How long the sampling took.
    public var elapsed: Duration

    /// The server's own error, added to the bound: its kernel's maximum error. Nil when unknown.
    public var serverError: Int64? { serverClock?.maxErrorNanoseconds }

    /// The whole bound: the true offset to UTC lies in offset ± errorBound, as far as the server's
    /// kernel knows its own error (nothing is added for a server that does not say).
    public var errorBound: Int64 { estimate.errorBound + (serverError ?? 0) }

    /// The bound a check compares: the whole bound, or only the bound to the server's clock when
    /// the user accepts an unsynchronized server's clock as the reference.
    public func checkedBound(allowingUnsynchronized: Bool) -> Int64 {
        allowingUnsynchronized && serverClock?.synchronized == false ? estimate.errorBound : errorBound
    }

    public var measurement: SourceMeasurement {
        SourceMeasurement(
            source: url.description, kind: kind, offset: estimate.offset, errorBound: errorBound,
            sourceError: serverError, sourceSynchronized: serverClock?.synchronized, roundTrip: estimate.delay,
            samples: estimate.samples)
    }
}

/// Measures this machine's clock against an epoch service the NTP way, over one keep-alive
/// connection built directly on SwiftNIO, so that t1 and t4 are taken at the socket.
public enum SyncClient {
    public static func measure(_ url: ServiceURL, options: SamplingOptions) async throws(SyncFailure) -> SyncResult {
        do {
            return try await measureThrowing(url, options: options)
        } catch let failure as SyncFailure {
            throw failure
        } catch let error where ClientTLS.isTLSError(error) {
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
        let started = ContinuousClock.now
        let timeout = TimeAmount.nanoseconds(options.timeout.totalNanoseconds)
        let tls = try ClientTLS.make(for: url, options: options)
        let isAddress = url.host.contains(":") || url.host.allSatisfy { $0.isNumber || $0 == "." }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: url.host, port: url.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    let exchange = ExchangeClock(clock: clock)
                    try pipeline.addHandler(SocketTimestampHandler(exchange: exchange))
                    try tls?.addHandler(to: pipeline, serverHostname: isAddress ? nil : url.host)
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(NIOHTTPClientResponseAggregator(maxContentLength: 64 * 1024))
                    try pipeline.addHandler(TimedResponseHandler(exchange: exchange))
                    return try NIOAsyncChannel<TimedResponse, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }

        return try await channel.executeThenClose { inbound, outbound in
            var connection = Exchanges(
                url: url, outbound: outbound, responses: inbound.makeAsyncIterator(), channel: channel.channel,
                timeout: timeout)
            if url.scheme == .https {
                // The first exchange's socket times would include the TLS handshake, which runs
                // before the request is written: spend it on an exchange that is not sampled.
                _ = try await connection.send(
                    options.dateHeader ? "/" : "/healthz", method: options.dateHeader ? .HEAD : .GET)
            }
            if options.dateHeader {
                var sampler = WholeSecondSampler(
                    url: url, path: "/", method: .HEAD, reading: .dateHeader, clock: clock,
                    budget: options.wholeSecondBudget, started: started)
                return try await sampler.run(&connection)
            }
            var samples: [SyncSample] = []
            var revision: String?
            var serverClock: ServerClock?
            while samples.count < options.samples {
                if !samples.isEmpty { try await Task.sleep(for: options.interval) }
                let path = "/sync?t1=\(clock.now())"
                let timed = try await connection.send(path, method: .GET)
                let location = "\(url)/sync"
                if timed.response.head.status == .notFound && samples.isEmpty {
                    // No /sync: an original go-microepoch server. Bisect its seconds from `/`.
                    var sampler = WholeSecondSampler(
                        url: url, path: "/", method: .GET, reading: .epochJSON, clock: clock,
                        budget: options.wholeSecondBudget, started: started)
                    return try await sampler.run(&connection)
                }
                guard timed.response.head.status == .ok else {
                    throw SyncFailure.badAnswer("\(location) answered HTTP \(timed.response.head.status.code)")
                }
                let body = timed.response.body.map { Array($0.readableBytesView) } ?? []
                switch try Answer.parse(body, from: location) {
                case .sync(let answer):
                    guard
                        let sample = SyncSample.checked(
                            t1: timed.sentAt, t2: answer.t2, t3: answer.t3, t4: timed.receivedAt,
                            localStep: timed.localStep)
                    else {
                        throw SyncFailure.badAnswer(
                            "\(location) answered impossible times t2=\(answer.t2) t3=\(answer.t3)")
                    }
                    if let reported = answer.clock, !reported.isPlausible {
                        throw SyncFailure.badAnswer("\(location) answered an impossible clock error")
                    }
                    samples.append(sample)
                    revision = answer.rev
                    serverClock = answer.clock
                case .wholeSeconds(let answer):
                    // Every path answers the epoch (go-microepoch's main.go): this is its first sample.
                    var sampler = WholeSecondSampler(
                        url: url, path: "/", method: .GET, reading: .epochJSON, clock: clock,
                        budget: options.wholeSecondBudget, started: started)
                    try sampler.add(timed, second: answer.data, revision: answer.rev, location: location)
                    return try await sampler.run(&connection)
                }
            }
            // The server's timestamps are in nanoseconds: its precision is 1 ns, like ours on Linux.
            guard
                let estimate = estimateOffset(
                    samples, resolution: 1, localPrecision: WallClock.resolutionNanoseconds())
            else {
                throw SyncFailure.inconsistent(SyncClient.inconsistency(samples, location: "\(url)/sync"))
            }
            return SyncResult(
                url: url, kind: .httpSync, estimate: estimate, serverRevision: revision, serverClock: serverClock,
                elapsed: ContinuousClock.now - started)
        }
    }

    /// Sends one request and waits for its response; a timer closes the connection if the answer
    /// takes longer than `timeout` (the async iterator itself has no deadline).
    static func exchange(
        _ path: String, method: HTTPMethod, url: ServiceURL,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
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
                .head(HTTPRequestHead(version: .http1_1, method: method, uri: url.target(path), headers: headers)),
                .end(nil),
            ])
        } catch {
            // The connection failed before the request went out (a TLS handshake error, say): the
            // inbound side carries the reason.
            do {
                _ = try await responses.next()
            } catch let error where ClientTLS.isTLSError(error) {
                throw SyncFailure.unreachable(
                    "TLS with \(url) failed (does it serve https?): \(error)")
            } catch {}
            throw SyncFailure.unreachable("\(url) closed the connection before the request was sent")
        }
        do {
            if let response = try await responses.next() { return response }
        } catch let error where ClientTLS.isTLSError(error) {
            throw SyncFailure.unreachable("TLS with \(url) failed (does it serve https?): \(error)")
        } catch  where !timedOut.withLockedValue({ $0 }) {
            throw SyncFailure.badAnswer("\(url) broke the connection: \(error)")
        } catch {}
        if timedOut.withLockedValue({ $0 }) {
            throw SyncFailure.timedOut("\(url) did not answer within \(timeoutText(timeout))")
        }
        throw SyncFailure.badAnswer("\(url) closed the connection without an answer")
    }

    /// The one line when no exchange could be used: every one had a negative delay (the server
    /// says it held the request longer than the round trip) or saw the local clock step.
    static func inconsistency(_ samples: [SyncSample], location: String) -> String {
        let negative = samples.filter { $0.rejection == .negativeDelay }.count
        let stepped = samples.filter { $0.rejection == .localClockStepped }.count
        if negative == 0 {
            return "\(location): this machine's clock stepped during all \(stepped) exchanges; measure again"
        }
        let worst = samples.map(\.delay).min() ?? 0
        let milliseconds =
            "\(worst < 0 ? "-" : "")\(worst.magnitude / 1_000_000)."
            + String(String(worst.magnitude / 1_000 % 1_000 + 1_000).dropFirst()) + " ms"
        return "\(location): the server's timestamps are inconsistent: in \(negative) of \(samples.count) exchanges "
            + "its t3 − t2 exceeded the whole round trip (delay down to \(milliseconds))"
            + (stepped > 0 ? ", and this clock stepped during \(stepped)" : "")
    }

    /// "Connection refused" rather than NIO's full error description.
    private static func reasonText(_ error: any Error) -> String {
        guard let ioError = error as? IOError else { return "\(error)" }
        return String(cString: strerror(ioError.errnoCode)).lowercased()
    }

    static func timeoutText(_ timeout: TimeAmount) -> String {
        formatDuration(.nanoseconds(timeout.nanoseconds))
    }
}

/// One keep-alive connection's request/response exchanges, in order.
struct Exchanges {
    let url: ServiceURL
    let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    var responses: NIOAsyncChannelInboundStream<TimedResponse>.AsyncIterator
    let channel: any Channel
    let timeout: TimeAmount

    mutating func send(_ path: String, method: HTTPMethod) async throws -> TimedResponse {
        try await SyncClient.exchange(
            path, method: method, url: url, outbound: outbound, responses: &responses, channel: channel,
            timeout: timeout)
    }
}
