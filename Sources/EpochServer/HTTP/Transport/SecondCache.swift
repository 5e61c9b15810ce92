import EpochCore
import NIOCore

/// What does not change within one second, rendered once per second per event loop: the `Date`
/// header and the encoded responses a route set declares per-second (`GET /` in seconds), which
/// every request of that second shares byte for byte. Confined to one event loop: no lock.
///
/// It follows the clock both ways. Forward, at the first request of a new second. Backward only
/// when the clock itself is behind the cache (an NTP step, a VM resume), not merely a request
/// whose head was decoded just before the tick: loops serve many connections, so such requests
/// are routine, and answering them from the new second is at most the rest of a second late.
final class SecondCache {
    private let allocator = ByteBufferAllocator()
    private(set) var second: Int64 = .min
    private(set) var dateHeader = ""
    /// Per route index (`RouteTable`): the few routes a server has.
    private var responses: [EncodedResponse?] = []

    /// The start of the cached second: the time per-second responses are rendered for.
    var secondStart: UnixNanoseconds { second &* 1_000_000_000 }

    /// Brings the cache to the second of a request stamped `receivedAt`; `now` reads the same
    /// clock again, only when the request is behind the cache.
    @inline(__always)
    func follow(receivedAt: UnixNanoseconds, now: () -> UnixNanoseconds) {
        let requested = TimeUnit.sec.count(ofNanoseconds: receivedAt)
        if requested > second {
            move(to: requested)
        } else if requested < second {
            let current = TimeUnit.sec.count(ofNanoseconds: now())
            if current < second { move(to: current) }
        }
    }

    /// The encoded response of `route` for the cached second, rendered by `render` at its first use.
    func response(for route: Int, render: () -> Response) -> EncodedResponse {
        if route < responses.count, let encoded = responses[route] { return encoded }
        let encoded = EncodedResponse(render(), date: dateHeader, connection: .implicit, allocator: allocator)
        if route >= responses.count {
            responses.append(contentsOf: repeatElement(nil, count: route + 1 - responses.count))
        }
        responses[route] = encoded
        return encoded
    }

    private func move(to second: Int64) {
        self.second = second
        dateHeader = httpDate(unixSeconds: second)
        for index in responses.indices { responses[index] = nil }
    }
}
