import NIOCore
import NIOHTTP1

/// A response as the bytes that go on the wire: status line, headers and body in one buffer, so
/// that a response is one write with no per-request encoder in the pipeline. (NIO's
/// `HTTPResponseEncoder` with head, body and end writes served ~85-90k req/s here where one
/// pre-encoded buffer per response served ~122-128k: issue 10's measurement.)
struct EncodedResponse {
    /// The whole response.
    let bytes: ByteBuffer
    /// How many of `bytes` are the status line and headers: all that a HEAD answer sends.
    let headLength: Int
    let status: UInt

    /// The `Connection` header a response needs: none for an HTTP/1.1 keep-alive, `close` when the
    /// server closes after it, `keep-alive` for an HTTP/1.0 client that asked to keep it.
    enum Connection {
        case implicit
        case close
        case keepAlive
    }

    init(_ response: Response, date: String, connection: Connection, allocator: ByteBufferAllocator) {
        status = response.status.code
        var buffer = allocator.buffer(capacity: 160 + response.contentType.utf8.count + response.body.readableBytes)
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeString(String(response.status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(response.status.reasonPhrase)
        buffer.writeStaticString("\r\ncontent-type: ")
        buffer.writeString(response.contentType)
        buffer.writeStaticString("\r\ncontent-length: ")
        buffer.writeString(String(response.body.readableBytes))
        buffer.writeStaticString("\r\ncache-control: no-store\r\ndate: ")
        buffer.writeString(date)
        buffer.writeStaticString("\r\n")
        for (name, value) in response.extraHeaders {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        switch connection {
        case .implicit: break
        case .close: buffer.writeStaticString("connection: close\r\n")
        case .keepAlive: buffer.writeStaticString("connection: keep-alive\r\n")
        }
        buffer.writeStaticString("\r\n")
        headLength = buffer.readableBytes
        var body = response.body
        buffer.writeBuffer(&body)
        bytes = buffer
    }

    /// What to write: everything, or only the head (HEAD is answered without a body).
    func payload(withBody: Bool) -> ByteBuffer {
        withBody ? bytes : bytes.getSlice(at: bytes.readerIndex, length: headLength)!
    }
}
