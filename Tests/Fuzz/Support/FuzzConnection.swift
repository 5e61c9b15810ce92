import NIOCore
import NIOEmbedded

/// One client connection to a server's handlers on an `EmbeddedChannel`, as the fuzz targets that
/// drive a TCP door (HTTP, NTS-KE) use it: the client's bytes written in reads of a chosen size,
/// and everything the server wrote collected as byte arrays for the target's checks.
public struct FuzzConnection {
    public let channel: EmbeddedChannel
    /// What the server wrote, one array per write, in order.
    public private(set) var written: [[UInt8]] = []

    public init(channel: EmbeddedChannel = EmbeddedChannel()) {
        self.channel = channel
    }

    /// Moves what the server has written so far into `written`.
    public mutating func collect() {
        while let buffer = try? channel.readOutbound(as: ByteBuffer.self) {
            written.append(Array(buffer.readableBytesView))
        }
    }

    /// Writes `bytes` inbound in reads of `chunkSize` bytes (0: one read), for as long as the server
    /// keeps the channel open, collecting its writes after each read. `afterRead(first)` runs after
    /// each read, before the collection, so that a target can interleave events.
    public mutating func writeInbound(
        _ bytes: ArraySlice<UInt8>, chunkSize: Int, afterRead: (_ first: Bool) -> Void = { _ in }
    ) throws {
        let step = chunkSize == 0 ? max(1, bytes.count) : chunkSize
        var start = bytes.startIndex
        while start < bytes.endIndex, channel.isActive {
            let end = min(start + step, bytes.endIndex)
            try channel.writeInbound(channel.allocator.buffer(bytes: bytes[start..<end]))
            afterRead(start == bytes.startIndex)
            collect()
            start = end
        }
    }
}

/// How a connection target reads its input: the first byte is the read size (0: one read), the
/// second the target's flags (events to interleave), the rest the client's bytes. Nil for an
/// input shorter than those two bytes.
public func connectionInput(_ input: [UInt8]) -> (chunkSize: Int, flags: UInt8, bytes: ArraySlice<UInt8>)? {
    guard input.count >= 2 else { return nil }
    return (Int(input[0]), input[1], input.dropFirst(2))
}
