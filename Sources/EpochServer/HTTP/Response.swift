import NIOCore
import NIOHTTP1

/// A complete response, built before anything is written.
struct Response {
    var status: HTTPResponseStatus
    var contentType: String
    var body: ByteBuffer
    var extraHeaders: [(String, String)] = []

    static let json = "application/json"

    static func json(_ status: HTTPResponseStatus, _ text: String, allocator: ByteBufferAllocator) -> Response {
        Response(status: status, contentType: json, body: allocator.buffer(string: text))
    }
}
