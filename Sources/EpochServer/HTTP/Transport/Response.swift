import EpochCore
import NIOCore
import NIOHTTP1

/// A complete response, built before anything is written. The server encodes it, status line,
/// headers and body, into one buffer (`EncodedResponse`), adding `content-length`,
/// `cache-control: no-store`, `date` and, where needed, `connection`.
package struct Response: Sendable {
    package var status: HTTPResponseStatus
    package var contentType: String
    package var body: ByteBuffer
    /// Headers beyond the standard ones. Server constants only, never client input: they are
    /// written as they are.
    package var extraHeaders: [(String, String)]

    package static let json = "application/json"

    package init(
        status: HTTPResponseStatus, contentType: String, body: ByteBuffer, extraHeaders: [(String, String)] = []
    ) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.extraHeaders = extraHeaders
    }

    package static func json(_ status: HTTPResponseStatus, _ text: String, allocator: ByteBufferAllocator) -> Response {
        Response(status: status, contentType: json, body: allocator.buffer(string: text))
    }

    /// Every 4xx/5xx answer: a JSON body with the status code and a sentence a person can act on.
    package static func error(_ status: HTTPResponseStatus, _ message: String, allocator: ByteBufferAllocator)
        -> Response
    {
        json(status, Payload.error(status: Int(status.code), message: message), allocator: allocator)
    }

    /// `/metrics`: the Prometheus text exposition of `metrics`, scrape hooks run first.
    package static func metrics(_ metrics: ServerMetrics, allocator: ByteBufferAllocator) -> Response {
        var text: [UInt8] = []
        metrics.emit(into: &text)
        return Response(
            status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: allocator.buffer(bytes: text))
    }
}
