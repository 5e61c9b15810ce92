import CEpochAffinity
import NIOCore

/// How many event loops a server runs by default: one per CPU this process may actually run on.
package enum EventLoopThreads {
    /// The smaller of the CPUs in this process's affinity mask (`taskset`, a cpuset) and NIO's
    /// `System.coreCount`, which reads the cgroup v1/v2 CPU quota (rounded up) or the cgroup's
    /// cpuset, but not the affinity mask: under `taskset -c 0` NIO alone counts every core, and
    /// two loops on one core tripled p99 here.
    package static var available: Int {
        max(1, min(affinityCPUs ?? System.coreCount, System.coreCount))
    }

    /// The CPUs of the calling thread's affinity mask (inherited by the threads it starts).
    static var affinityCPUs: Int? {
        let count = Int(epoch_affinity_cpu_count())
        return count > 0 ? count : nil
    }
}
