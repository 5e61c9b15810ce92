import EpochTestSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import EpochServer

/// ConnectionGuard on an EmbeddedChannel, its timeouts driven by the embedded loop's clock: each
/// test advances virtual time across a deadline, so it is exact and runs in milliseconds.
@Suite struct ConnectionGuardTests {
    typealias Connection = EmbeddedConnection

    /// A request still incomplete when `requestTimeout` has passed since its first read closes
    /// the connection (slowloris); a moment before, it is still open. Control: a guard without
    /// the deadline leaves it open, and this test fails (shown in the closing note).
    @Test func anIncompleteRequestIsClosedAtTheRequestDeadline() throws {
        let connection = try Connection()
        try connection.send("GET /a HTTP/1.1\r\nHo")
        connection.loop.advanceTime(by: Connection.requestTimeout - .milliseconds(1))
        #expect(connection.channel.isActive)
        try connection.send("st: t\r\nX-Slow: 1")  // more bytes do not move the deadline
        connection.loop.advanceTime(by: .milliseconds(1))
        #expect(!connection.channel.isActive)
        // Never answered. (The decoder's "stream ended" 400 that follows the close is written to a
        // closed channel: a socket would drop it; EmbeddedChannel keeps it.)
        #expect(!Connection.bodies(try connection.received()).contains("/a"))
    }

    /// A request that completes in time cancels its deadline: the connection then lives on, well
    /// past `requestTimeout`, until the idle timeout.
    @Test func aCompleteRequestCancelsItsDeadline() throws {
        let connection = try Connection()
        try connection.send("GET /a HTTP/1.1\r\n")
        connection.loop.advanceTime(by: .seconds(5))
        try connection.send("Host: t\r\n\r\n")
        #expect(Connection.bodies(try connection.received()) == ["/a"])
        connection.loop.advanceTime(by: Connection.requestTimeout * 2)
        #expect(connection.channel.isActive)
    }

    /// No byte for `idleTimeout` closes a keep-alive connection; a read meanwhile restarts the
    /// wait from that read.
    @Test func anIdleConnectionClosesAfterTheIdleTimeout() throws {
        let connection = try Connection()
        connection.loop.advanceTime(by: .seconds(40))
        try connection.send(get("/a"))
        #expect(Connection.bodies(try connection.received()) == ["/a"])
        connection.loop.advanceTime(by: .seconds(74))  // 114 s since the start, 74 since the read
        #expect(connection.channel.isActive)
        connection.loop.advanceTime(by: .seconds(1))
        #expect(!connection.channel.isActive)
    }

    /// While the channel is not writable the guard holds what was read and asks for no more
    /// reads; once writable, it feeds the held bytes on and answers them.
    @Test func aConnectionThatIsNotWritableIsNotFed() throws {
        let connection = try Connection()
        connection.channel.isWritable = false
        connection.channel.pipeline.fireChannelWritabilityChanged()
        try connection.send(get("/a") + get("/b"))
        #expect(try connection.received() == "")
        connection.channel.isWritable = true
        connection.channel.pipeline.fireChannelWritabilityChanged()
        #expect(Connection.bodies(try connection.received()) == ["/a", "/b"])
    }

    /// Control for the test above: without backpressure the same bytes are answered at once,
    /// writable or not (what the flood test's control run measures over real sockets).
    @Test func withoutBackpressureTheBytesAreAnsweredAtOnce() throws {
        let connection = try Connection(sliceBytes: nil)
        connection.channel.isWritable = false
        connection.channel.pipeline.fireChannelWritabilityChanged()
        try connection.send(get("/a") + get("/b"))
        #expect(Connection.bodies(try connection.received()) == ["/a", "/b"])
    }

    /// A flood larger than a slice, read while writable, goes to the decoder slice by slice and
    /// stops where the channel stops being writable.
    @Test func aLargeReadStopsFeedingWhenTheChannelFillsUp() throws {
        let connection = try Connection()
        let one = get("/c")
        let flood = String(repeating: one, count: 2 * Connection.sliceBytes / one.utf8.count + 1)
        try connection.channel.pipeline.syncOperations.addHandler(
            BecomesUnwritable(after: 1), position: .first)
        try connection.send(flood)
        let answered = Connection.bodies(try connection.received()).count
        #expect(answered > 0 && answered <= Connection.sliceBytes / one.utf8.count + 1)
        connection.channel.isWritable = true
        connection.channel.pipeline.fireChannelWritabilityChanged()
        #expect(answered + Connection.bodies(try connection.received()).count == flood.utf8.count / one.utf8.count)
    }

    /// Request bytes over `maxRequestBytes` are answered 431 and the output side closed.
    @Test func aRequestOverTheSizeLimitIsAnswered431() throws {
        let connection = try Connection()
        try connection.send(
            "GET /a HTTP/1.1\r\nHost: t\r\nX: " + String(repeating: "x", count: Connection.maxRequestBytes))
        #expect(try connection.received().hasPrefix("HTTP/1.1 431 "))
    }
}

/// Turns the channel unwritable once `after` responses have been written: a client that stops
/// reading, as the kernel's send buffer fills.
private final class BecomesUnwritable: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private var left: Int

    init(after writes: Int) { left = writes }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        left -= 1
        if left == 0, let channel = context.channel as? EmbeddedChannel {
            channel.isWritable = false
            context.pipeline.fireChannelWritabilityChanged()
        }
    }
}
