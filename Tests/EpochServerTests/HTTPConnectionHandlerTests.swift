import EpochTestSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import EpochServer

/// HTTPConnectionHandler on an EmbeddedChannel: the order of pipelined answers and quiescing
/// (NIO's `ChannelShouldQuiesceEvent`, which the server's graceful shutdown sends), without a
/// socket or a thread.
@Suite struct HTTPConnectionHandlerTests {
    typealias Connection = EmbeddedConnection

    /// Requests pipelined in one read are answered in the order they were sent, and flushed.
    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let connection = try Connection()
        try connection.send(get("/c") + get("/a") + get("/b") + get("/a"))
        #expect(Connection.bodies(try connection.received()) == ["/c", "/a", "/b", "/a"])
        #expect(connection.channel.isActive)
    }

    /// ... and so are requests split across reads anywhere, mid-line included.
    @Test func requestsSplitAcrossReadsAreAnsweredInOrder() throws {
        let connection = try Connection()
        let bytes = Array((get("/b") + get("/c") + get("/a")).utf8)
        var answers: [String] = []
        for start in stride(from: 0, to: bytes.count, by: 7) {
            try connection.channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(start + 7, bytes.count)]))
            answers += Connection.bodies(try connection.received())
        }
        #expect(answers == ["/b", "/c", "/a"])
    }

    /// Quiescing an idle keep-alive connection closes it at once.
    @Test func quiescingClosesAnIdleConnectionAtOnce() throws {
        let connection = try Connection()
        try connection.send(get("/a"))
        #expect(Connection.bodies(try connection.received()) == ["/a"])
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!connection.channel.isActive)
    }

    /// Quiescing a connection in the middle of a request (its head read, its body not yet) answers
    /// that request, with `connection: close`, and then closes. Control: before the request
    /// completes, it is open.
    @Test func quiescingMidRequestAnswersItThenCloses() throws {
        let connection = try Connection()
        try connection.send("POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab")
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(connection.channel.isActive)
        try connection.send("cde")
        let answer = try connection.received()
        #expect(Connection.bodies(answer) == ["/b"])
        #expect(answer.lowercased().contains("connection: close\r\n"))
        #expect(!connection.channel.isActive)
    }

    /// A malformed request is answered 400 and the connection closed.
    @Test func aMalformedRequestIsAnswered400AndClosed() throws {
        let connection = try Connection()
        try? connection.send("GET /a HTTP/1.1\r\nHost t\r\n\r\n")
        #expect(try connection.received().hasPrefix("HTTP/1.1 400 "))
        #expect(!connection.channel.isActive)
    }
}
