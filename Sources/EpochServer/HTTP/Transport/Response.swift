import EpochCore
import NIOCore
import NIOHTTP1

/// A complete response, built before anything is written. The server encodes it, status line,
/// headers and body, into one buffer (`EncodedResponse`), adding `content-length`,
/// `cache-control: no-store`, `date` and, where needed, `connection`.
public struct Response: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: ByteBuffer
    /// Headers beyond the standard ones. Server constants only, never client input: they are
    /// written as they are.
    public var extraHeaders: [(String, String)]

    public static let json = "application/json"

    public init(
        status: HTTPResponseStatus, contentType: String, body: ByteBuffer, extraHeaders: [(String, String)] = []
    ) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.extraHeaders = extraHeaders
    }

    public static func json(_ status: HTTPResponseStatus, _ text: String, allocator: ByteBufferAllocator) -> Response {
        Response(status: status, contentType: json, body: allocator.buffer(string: text))
    }

    /// Every 4xx/5xx answer: a JSON body with the status code and a sentence a person can act on.
    public static func error(_ status: HTTPResponseStatus, _ message: String, allocator: ByteBufferAllocator)
        -> Response
    {
        json(status, Payload.error(status: Int(status.code), message: message), allocator: allocator)
    }

    /// `/metrics`: the Prometheus text exposition of `metrics`, scrape hooks run first.
    public static func metrics(_ metrics: ServerMetrics, allocator: ByteBufferAllocator) -> Response {
        var text: [UInt8] = []
        metrics.emit(into: &text)
        return Response(
            status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: allocator.buffer(bytes: text))
    }
}
