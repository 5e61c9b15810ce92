import EpochCore
import NIOConcurrencyHelpers
import NIOCore

/// The server's knowledge of its own clock: the kernel's discipline reading, taken at most once a
/// second and shared by every protocol (HTTP `/sync` and `/clock`, `/metrics`, `/readyz`,
/// Roughtime's RADI, NTP's root dispersion and leap indicator).
///
/// Readers take a lock only to copy the last reading; the system call happens on the first read
/// after the reading is a second old, never per request. What readers get is the reading aged to
/// the moment they ask (`ClockDiscipline.aged(by:)`): the kernel's maxerror grows 500 µs/s, so a
/// bound served from a reading up to a second old adds that age rather than understating it.
package final class ClockState: Sendable {
    private let source: any ClockDisciplineSource
    private let refreshInterval: Int64
    private let cached: NIOLockedValueBox<(reading: ClockDiscipline, readAt: NIODeadline)>

    package init(source: any ClockDisciplineSource = KernelClockDiscipline(), refreshInterval: Duration = .seconds(1)) {
        self.source = source
        self.refreshInterval = refreshInterval.totalNanoseconds
        self.cached = NIOLockedValueBox((source.read(), .now()))
    }

    /// The latest reading, at most `refreshInterval` old, with its maxerror grown by its age.
    package var discipline: ClockDiscipline {
        let now = NIODeadline.now()
        let (reading, age) = cached.withLockedValue { entry in
            if (now - entry.readAt).nanoseconds >= refreshInterval {
                entry = (source.read(), now)
            }
            return (entry.reading, (now - entry.readAt).nanoseconds)
        }
        return reading.aged(by: age)
    }
}
