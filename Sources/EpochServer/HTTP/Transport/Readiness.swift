import Synchronization

/// Whether the instance should receive new traffic: `/readyz` answers 503 from the moment a drain
/// starts, so that Kubernetes and load balancers take it out of rotation while it still serves.
package final class Readiness: Sendable {
    private let draining = Atomic<Bool>(false)

    package init() {}

    package var isDraining: Bool { draining.load(ordering: .relaxed) }

    func beginDrain() { draining.store(true, ordering: .relaxed) }
}
