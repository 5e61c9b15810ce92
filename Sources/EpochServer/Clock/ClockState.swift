import EpochCore
import NIOConcurrencyHelpers
import NIOCore

/// The server's knowledge of its own clock: the kernel's discipline reading, taken at most once a
/// second and shared by every protocol (HTTP `/sync` and `/clock`, `/metrics`, `/readyz`,
/// Roughtime's RADI, NTP's root dispersion and leap indicator).
///
/// Readers take a lock only to copy the last reading; the system call happens on the first read
/// after the reading is a second old, never per request.
package final class ClockState: Sendable {
    private let source: any ClockDisciplineSource
    private let refreshInterval: Int64
    private let cached: NIOLockedValueBox<(reading: ClockDiscipline, readAt: NIODeadline)>

    package init(source: any ClockDisciplineSource = KernelClockDiscipline(), refreshInterval: Duration = .seconds(1)) {
        self.source = source
        self.refreshInterval = refreshInterval.totalNanoseconds
        self.cached = NIOLockedValueBox((source.read(), .now()))
    }

    /// The latest reading, at most `refreshInterval` old.
    package var discipline: ClockDiscipline {
        let now = NIODeadline.now()
        return cached.withLockedValue { entry in
            if (now - entry.readAt).nanoseconds >= refreshInterval {
                entry = (source.read(), now)
            }
            return entry.reading
        }
    }
}
