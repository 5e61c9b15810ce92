import EpochCore
import NIOCore
import NIOHTTP1

/// What does not change within one second, rendered once per second per event loop: the `Date`
/// header and the whole `GET /` response in seconds, head and body, which every request of that
/// second shares byte for byte. Confined to one event loop, so it needs no lock.
final class SecondCache {
    private let hostname: String
    private let revision: String
    private let allocator = ByteBufferAllocator()
    private(set) var second: Int64 = .min
    private(set) var dateHeader = ""
    private(set) var epochHead = HTTPResponseHead(version: .http1_1, status: .ok)
    private(set) var epochBody = ByteBuffer()
    /// Metric series looked up once per loop (see `ServerMetrics.series`).
    var series: [ServerMetrics.SeriesKey: ServerMetrics.RequestSeries] = [:]

    init(hostname: String, revision: String) {
        self.hostname = hostname
        self.revision = revision
    }

    /// Brings the cache forward to the second `now` falls in. Never backwards: a request whose
    /// head was read in the previous second is answered from the current one (the clock is read
    /// when the head is decoded, and loops serve many connections).
    @inline(__always)
    func advance(to now: UnixNanoseconds) {
        let current = TimeUnit.sec.count(ofNanoseconds: now)
        if current > second { render(second: current, now: now) }
    }

    private func render(second: Int64, now: UnixNanoseconds) {
        self.second = second
        dateHeader = httpDate(unixSeconds: second)
        epochBody = allocator.buffer(string: Payload.epoch(host: hostname, time: now, unit: .sec, rev: revision))
        epochHead = HTTPResponseHead(
            version: .http1_1,
            status: .ok,
            headers: HTTPHeaders(
                Self.standardHeaders(contentType: Response.json, length: epochBody.readableBytes, date: dateHeader))
        )
    }

    static func standardHeaders(contentType: String, length: Int, date: String) -> [(String, String)] {
        [
            ("content-type", contentType),
            ("content-length", String(length)),
            ("cache-control", "no-store"),
            ("date", date),
        ]
    }
}
