/// A Roughtime message (RFC 10049 §5.1): a tag count N, N−1 value offsets, N tags in ascending order,
/// then the values, every field a little-endian `uint32` and every value a multiple of four bytes.
///
/// Hand-written because it is the wire codec the protocol defines (no Swift package implements it);
/// `parse` checks every count, offset and length against the bytes it has before it reads them.
public struct RoughtimeMessage: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var tag: RoughtimeTag
        public var value: [UInt8]
    }

    /// The entries in ascending tag order (the encoding requires it).
    public private(set) var entries: [Entry]

    /// Sorts `entries` by tag; tags must be unique and values multiples of four bytes.
    public init(_ entries: [(RoughtimeTag, [UInt8])]) {
        self.entries = entries.map { Entry(tag: $0.0, value: $0.1) }.sorted { $0.tag < $1.tag }
        precondition(!self.entries.isEmpty, "a Roughtime message has at least one tag")
        precondition(self.entries.allSatisfy { $0.value.count % 4 == 0 }, "values are multiples of 4 bytes")
    }

    public subscript(tag: RoughtimeTag) -> [UInt8]? {
        entries.first { $0.tag == tag }?.value
    }

    /// The bytes of the header (count, offsets, tags) before the values.
    public var headerSize: Int { 8 * entries.count }

    public var encodedSize: Int { headerSize + entries.reduce(0) { $0 + $1.value.count } }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encodedSize)
        bytes.appendLittleEndian(UInt32(entries.count))
        var offset = 0
        for entry in entries.dropLast() {
            offset += entry.value.count
            bytes.appendLittleEndian(UInt32(offset))
        }
        for entry in entries { bytes.appendLittleEndian(entry.tag.rawValue) }
        for entry in entries { bytes.append(contentsOf: entry.value) }
        return bytes
    }

    /// Parses a message that fills `bytes` exactly.
    public static func parse(_ bytes: ArraySlice<UInt8>) throws(RoughtimeFormatError) -> RoughtimeMessage {
        let base = bytes.startIndex
        guard bytes.count >= 4 else {
            throw RoughtimeFormatError("truncated_header", "message of \(bytes.count) bytes has no tag count")
        }
        let count = Int(bytes.littleEndianUInt32(at: base))
        guard count >= 1 else { throw RoughtimeFormatError("no_tags", "message has no tags") }
        // The header alone takes 8·N bytes; checked before any allocation sized by N.
        guard count <= bytes.count / 8 else {
            throw RoughtimeFormatError(
                "truncated_header", "message declares \(count) tags but has only \(bytes.count) bytes")
        }
        let valuesStart = 8 * count
        let valuesLength = bytes.count - valuesStart
        guard valuesLength % 4 == 0 else {
            throw RoughtimeFormatError("misaligned", "message values of \(valuesLength) bytes are not 4-byte aligned")
        }
        var bounds = [0]
        bounds.reserveCapacity(count + 1)
        for index in 0..<(count - 1) {
            let offset = Int(bytes.littleEndianUInt32(at: base + 4 + 4 * index))
            guard offset % 4 == 0 else {
                throw RoughtimeFormatError("misaligned", "value offset \(offset) is not a multiple of 4")
            }
            guard offset >= bounds.last! else {
                throw RoughtimeFormatError("offsets_out_of_order", "value offset \(offset) follows \(bounds.last!)")
            }
            guard offset <= valuesLength else {
                throw RoughtimeFormatError(
                    "offset_out_of_range", "value offset \(offset) lies past the \(valuesLength) value bytes")
            }
            bounds.append(offset)
        }
        bounds.append(valuesLength)
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for index in 0..<count {
            let tag = RoughtimeTag(rawValue: bytes.littleEndianUInt32(at: base + 4 * count + 4 * index))
            if let previous = entries.last?.tag, tag <= previous {
                throw RoughtimeFormatError("tags_out_of_order", "tag \(tag) follows \(previous)")
            }
            let start = base + valuesStart + bounds[index]
            let end = base + valuesStart + bounds[index + 1]
            entries.append(Entry(tag: tag, value: Array(bytes[start..<end])))
        }
        return RoughtimeMessage(validated: entries)
    }

    private init(validated entries: [Entry]) { self.entries = entries }
}

/// The framing of a Roughtime packet over UDP (RFC 10049 §5.2): the ASCII bytes `ROUGHTIM`, the
/// message length as a little-endian `uint32`, then the message.
public enum RoughtimePacket {
    public static let magic: [UInt8] = Array("ROUGHTIM".utf8)
    public static let headerSize = 12

    public static func frame(_ message: RoughtimeMessage) -> [UInt8] {
        let body = message.encoded()
        var bytes = magic
        bytes.reserveCapacity(headerSize + body.count)
        bytes.appendLittleEndian(UInt32(body.count))
        bytes.append(contentsOf: body)
        return bytes
    }

    /// The message of a packet whose declared length matches the bytes received exactly.
    public static func unframe(_ bytes: ArraySlice<UInt8>) throws(RoughtimeFormatError) -> RoughtimeMessage {
        guard bytes.count >= headerSize else {
            throw RoughtimeFormatError("truncated_header", "packet of \(bytes.count) bytes is shorter than its header")
        }
        guard bytes.prefix(8).elementsEqual(magic) else {
            throw RoughtimeFormatError("bad_magic", "packet does not start with ROUGHTIM")
        }
        let length = Int(bytes.littleEndianUInt32(at: bytes.startIndex + 8))
        guard length == bytes.count - headerSize else {
            throw RoughtimeFormatError(
                "length_mismatch", "packet declares a \(length)-byte message but carries \(bytes.count - headerSize)")
        }
        return try RoughtimeMessage.parse(bytes.dropFirst(headerSize))
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func appendLittleEndian(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}

extension ArraySlice where Element == UInt8 {
    /// The caller has checked that four bytes from `index` lie inside the slice.
    func littleEndianUInt32(at index: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(self[index + $1]) << (8 * UInt32($1)) }
    }
}

/// Fixed-size scalar values of a message.
extension RoughtimeMessage {
    public static func bytes(uint32 value: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(value)
        return bytes
    }

    public static func bytes(uint64 value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(value)
        return bytes
    }

    /// The value of `tag` as a `uint32`; nil when absent, an error when not four bytes.
    public func uint32(_ tag: RoughtimeTag) throws(RoughtimeFormatError) -> UInt32? {
        guard let value = self[tag] else { return nil }
        guard value.count == 4 else {
            throw RoughtimeFormatError("bad_length", "\(tag) has \(value.count) bytes, not 4")
        }
        return value[...].littleEndianUInt32(at: 0)
    }

    public func uint64(_ tag: RoughtimeTag) throws(RoughtimeFormatError) -> UInt64? {
        guard let value = self[tag] else { return nil }
        guard value.count == 8 else {
            throw RoughtimeFormatError("bad_length", "\(tag) has \(value.count) bytes, not 8")
        }
        let slice = value[...]
        return UInt64(slice.littleEndianUInt32(at: 0)) | UInt64(slice.littleEndianUInt32(at: 4)) << 32
    }

    /// The value of `tag` as a list of `uint32` (VER, VERS).
    public func uint32List(_ tag: RoughtimeTag) throws(RoughtimeFormatError) -> [UInt32]? {
        guard let value = self[tag] else { return nil }
        let slice = value[...]
        return stride(from: 0, to: value.count, by: 4).map { slice.littleEndianUInt32(at: $0) }
    }

    /// The value of a tag that must be present.
    public func required(_ tag: RoughtimeTag, in what: String) throws(RoughtimeFormatError) -> [UInt8] {
        guard let value = self[tag] else {
            throw RoughtimeFormatError("missing_\(tag.description.lowercased())", "\(what) has no \(tag)")
        }
        return value
    }

    /// A nested message, e.g. SREP or CERT.
    public func nested(_ tag: RoughtimeTag, in what: String) throws(RoughtimeFormatError) -> RoughtimeMessage {
        try RoughtimeMessage.parse(try required(tag, in: what)[...])
    }
}
