import NIOCore
import NIOPosix
import ServiceLifecycle

/// What the Roughtime and NTP servers share: one UDP socket on a one-thread event loop of its own
/// (one socket is read by one thread anyway), its address reported once bound, served until the
/// task is cancelled or the service group shuts down gracefully. The loop is shut down however the
/// service ends.
final class DatagramServiceLoop: Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let bound: EventLoopPromise<SocketAddress>

    init() {
        bound = group.next().makePromise()
    }

    /// The address the socket is bound to, once it is; failed with the bind error.
    var boundAddress: EventLoopFuture<SocketAddress> { bound.futureResult }

    /// Binds with `bind`, calls `listening` with the bound channel, and returns once the socket is
    /// closed. Only a bind error is thrown, as it was thrown.
    func serve(bind: () async throws -> Channel, listening: (Channel) -> Void) async throws {
        let channel: Channel
        do {
            channel = try await bind()
        } catch {
            bound.fail(error)
            try? await group.shutdownGracefully()
            throw error
        }
        bound.succeed(channel.localAddress!)
        listening(channel)
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
        try? await group.shutdownGracefully()
    }
}
