import NIOCore
import Synchronization

/// Caps the connections a server holds open: one accepted over the cap is closed at once,
/// before any handler is set up on it, and counted. The cap is what keeps the worst case (every
/// connection flooding, each at its backpressure bound) inside the container's memory limit.
final class ConnectionLimiter: Sendable {
    let maxConnections: Int
    private let open = Atomic<Int>(0)
    private let rejected = Atomic<Int>(0)

    init(maxConnections: Int) {
        self.maxConnections = maxConnections
    }

    var openConnections: Int { open.load(ordering: .relaxed) }
    var rejectedConnections: Int { rejected.load(ordering: .relaxed) }

    /// The server channel's handler: it sees every accepted connection before NIO registers it.
    func makeServerChannelHandler() -> some ChannelHandler { Gate(limiter: self) }

    private final class Gate: ChannelInboundHandler {
        typealias InboundIn = Channel
        typealias InboundOut = Channel

        private let limiter: ConnectionLimiter

        init(limiter: ConnectionLimiter) { self.limiter = limiter }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let child = unwrapInboundIn(data)
            let (count, _) = limiter.open.wrappingAdd(1, ordering: .relaxed)
            guard count < limiter.maxConnections else {
                limiter.open.wrappingSubtract(1, ordering: .relaxed)
                limiter.rejected.wrappingAdd(1, ordering: .relaxed)
                child.close(promise: nil)
                return
            }
            child.closeFuture.whenComplete { [limiter] _ in limiter.open.wrappingSubtract(1, ordering: .relaxed) }
            context.fireChannelRead(data)
        }
    }
}
