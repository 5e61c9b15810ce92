import NIOCore
import Synchronization

/// Whether the instance should receive new traffic. `/readyz` answers 503 until every listener the
/// process gave `waitFor` is bound (other protocols' sockets start beside HTTP, in services of
/// their own: `epoch serve` names them), so that nothing is routed to a socket that is not open
/// yet; and again from the moment a drain starts, so that Kubernetes and load balancers take it
/// out of rotation while it still serves.
package final class Readiness: Sendable {
    private let draining = Atomic<Bool>(false)
    private let listenersPending = Atomic<Int>(0)

    package init() {}

    package var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// A listener `waitFor` was given has not reported its address yet.
    package var isStarting: Bool { listenersPending.load(ordering: .relaxed) > 0 }

    /// Holds readiness until `bound` succeeds. A listener that fails to bind ends the process (its
    /// service throws), so a failed `bound` keeps the instance unready until then.
    package func waitFor(_ bound: EventLoopFuture<SocketAddress>) {
        listenersPending.add(1, ordering: .relaxed)
        bound.whenSuccess { _ in self.listenersPending.subtract(1, ordering: .relaxed) }
    }

    func beginDrain() { draining.store(true, ordering: .relaxed) }
}
