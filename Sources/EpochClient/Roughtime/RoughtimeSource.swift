import Crypto
import EpochCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A Roughtime server as a clock source: one 1024-byte request with a fresh nonce, and a reply
/// that must pass every check of RFC 10049 §5.4 under the pinned long-term key.
///
/// The offset is MIDP minus the local midpoint of the exchange, and the bound RADI plus the whole
/// round trip: the server took MIDP somewhere between sending and receiving, and RADI is its own
/// bound on MIDP (our server's includes rounding MIDP to the second).
public struct RoughtimeSource: ClockSource {
    public let address: RoughtimeAddress
    public let publicKey: Curve25519.Signing.PublicKey
    public var timeout: Duration
    public var versions: [RoughtimeVersion]

    public var name: String { address.description }

    public init(
        address: RoughtimeAddress, publicKey: Curve25519.Signing.PublicKey, timeout: Duration = .seconds(5),
        versions: [RoughtimeVersion] = RoughtimeVersion.supported
    ) {
        self.address = address
        self.publicKey = publicKey
        self.timeout = timeout
        self.versions = versions
    }

    public func measure() async throws(SyncFailure) -> SourceMeasurement {
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<RoughtimeRequest.nonceSize).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return try await exchange(nonce: nonce).measurement
    }

    /// One verified exchange with `nonce` (random, or chained to a previous reply by
    /// `RoughtimeSequence`): the bytes sent and received, kept as evidence, and the measurement.
    public func exchange(nonce: [UInt8]) async throws(SyncFailure) -> RoughtimeObservation {
        let request = RoughtimeRequest.make(nonce: nonce, versions: versions)
        let exchange: RoughtimeExchange
        do {
            exchange = try await RoughtimeExchange.run(request: request, to: address, timeout: timeout)
        } catch let failure as SyncFailure {
            throw failure
        } catch {
            throw .unreachable("\(name): \(error)")
        }
        let reply: RoughtimeReply
        do {
            reply = try RoughtimeReply(verifying: exchange.reply, request: request, publicKey: publicKey)
        } catch {
            throw .badAnswer("\(name): \(error.description)")
        }
        let roundTrip = max(0, exchange.received - exchange.sent)
        let localMidpoint = exchange.sent + roundTrip / 2
        let radius = Int64(reply.radius) * 1_000_000_000
        let measurement = SourceMeasurement(
            source: name, kind: .roughtime,
            offset: Int64(clamping: reply.midpoint) &* 1_000_000_000 &- localMidpoint,
            errorBound: radius + roundTrip, sourceError: radius, roundTrip: roundTrip, samples: 1)
        return RoughtimeObservation(request: request, response: exchange.reply, reply: reply, measurement: measurement)
    }
}

/// A verified Roughtime exchange: the exact request and reply packets, what the reply signs, and
/// the offset measured from it.
public struct RoughtimeObservation: Sendable {
    public var request: [UInt8]
    public var response: [UInt8]
    public var reply: RoughtimeReply
    public var measurement: SourceMeasurement
}

/// One request and the first datagram back from the server's address, with wall-clock times.
struct RoughtimeExchange {
    var reply: [UInt8]
    var sent: UnixNanoseconds
    var received: UnixNanoseconds

    static func run(request: [UInt8], to address: RoughtimeAddress, timeout: Duration) async throws -> RoughtimeExchange
    {
        let remote: SocketAddress
        do {
            remote = try SocketAddress.makeAddressResolvingHost(address.host, port: address.port)
        } catch {
            throw SyncFailure.unreachable("\(address): cannot resolve \(address.host)")
        }
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = OnceCompletion(group.next().makePromise(of: (bytes: [UInt8], at: UnixNanoseconds).self))
        let channel = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReplyCatcher(from: remote, promise: promise))
                }
            }
            .bind(host: remote.protocol == .inet6 ? "::" : "0.0.0.0", port: 0)
            .get()
        defer { channel.close(promise: nil) }
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.totalNanoseconds)) {
            promise.complete(.failure(SyncFailure.timedOut("\(address): no reply within \(formatDuration(timeout))")))
        }
        let sent = WallClock().now()
        try await channel.writeAndFlush(
            AddressedEnvelope(remoteAddress: remote, data: channel.allocator.buffer(bytes: request)))
        let reply = try await promise.result.get()
        deadline.cancel()
        return RoughtimeExchange(reply: reply.bytes, sent: sent, received: reply.at)
    }
}

/// Takes the receive time first, then the bytes; ignores datagrams from anyone but the server.
private final class ReplyCatcher: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let remote: SocketAddress
    private let promise: OnceCompletion<(bytes: [UInt8], at: UnixNanoseconds)>

    init(from remote: SocketAddress, promise: OnceCompletion<(bytes: [UInt8], at: UnixNanoseconds)>) {
        self.remote = remote
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let at = WallClock().now()
        let envelope = unwrapInboundIn(data)
        guard envelope.remoteAddress == remote else { return }
        promise.complete(.success((Array(envelope.data.readableBytesView), at)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.complete(.failure(SyncFailure.unreachable("\(remote): \(error)")))
    }
}

/// A promise that the reply, the timeout or a socket error completes, whichever comes first;
/// the later ones are ignored explicitly (they may run on different event loops).
final class OnceCompletion<Value: Sendable>: Sendable {
    private let promise: EventLoopPromise<Value>
    private let completed = NIOLockedValueBox(false)

    init(_ promise: EventLoopPromise<Value>) { self.promise = promise }

    var result: EventLoopFuture<Value> { promise.futureResult }

    func complete(_ result: Result<Value, any Error>) {
        let first = completed.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if first { promise.completeWith(result) }
    }
}
