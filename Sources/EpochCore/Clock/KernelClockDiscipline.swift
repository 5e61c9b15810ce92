import CEpochTimex

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads the kernel's clock discipline with `adjtimex(2)`, `modes = 0`: read-only, needs no
/// capability, and is allowed by Docker's and Kubernetes' RuntimeDefault seccomp profiles.
/// CLOCK_REALTIME is not namespaced, so a pod reads its node's state.
public struct KernelClockDiscipline: ClockDisciplineSource {
    public init() {}

    public func read() -> ClockDiscipline {
        #if os(Linux)
        var request = timex()
        request.modes = 0
        let state = adjtimex(&request)
        guard state >= 0 else { return .unavailable("adjtimex: " + String(cString: strerror(errno))) }
        return ClockDiscipline(
            state: ClockDiscipline.State(rawValue: state), status: request.status,
            maxErrorNanoseconds: Int64(request.maxerror) * 1_000,
            estimatedErrorNanoseconds: Int64(request.esterror) * 1_000)
        #else
        return .unavailable("adjtimex is Linux only")
        #endif
    }
}
