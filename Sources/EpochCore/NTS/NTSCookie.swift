/// One cookie master key (RFC 8915 §6): an ID that travels in every cookie, so that the server
/// finds the key that opens it, and an AES-SIV-CMAC-256 key. It comes from a file shared by every
/// replica (a Secret), so that any replica opens any replica's cookies.
public struct NTSCookieKey: Sendable, Equatable {
    public var id: UInt32
    public var key: [UInt8]

    public init(id: UInt32, key: [UInt8]) {
        self.id = id
        self.key = key
    }
}

extension NTSCookieKey: CustomStringConvertible {
    /// The ID only, never the key.
    public var description: String { "NTSCookieKey(id \(id))" }
}

/// The keys that seal and open cookies: the first seals, every one opens (the previous key stays
/// valid for one rotation period, so that cookies handed out just before a rotation still work).
///
/// A cookie is key ID (4 bytes) ‖ nonce (16) ‖ AES-SIV-CMAC-256 of the session, with the key ID and
/// the nonce as associated data. The session is the AEAD ID (2), 2 zero bytes and the C2S and S2C
/// keys: 104 bytes for SIV-CMAC, 72 for GCM-SIV, both multiples of 4 as NTP extension fields need.
public struct NTSCookieKeyring: Sendable {
    public private(set) var keys: [NTSCookieKey]
    private let ciphers: [UInt32: AESSIVCMAC256]

    public static let nonceByteCount = 16

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// `keys` in order: the sealing key first. IDs must differ and every key is 32 bytes.
    public init(keys: [NTSCookieKey]) throws(Invalid) {
        guard !keys.isEmpty else { throw Invalid(description: "holds no key") }
        var ciphers: [UInt32: AESSIVCMAC256] = [:]
        for key in keys {
            guard ciphers[key.id] == nil else { throw Invalid(description: "holds key ID \(key.id) twice") }
            guard let cipher = try? AESSIVCMAC256(key: key.key) else {
                throw Invalid(description: "holds a key that is not 32 bytes")
            }
            ciphers[key.id] = cipher
        }
        self.keys = keys
        self.ciphers = ciphers
    }

    /// A cookie for `session`, sealed under the first key with `nonce` (16 random bytes).
    public func seal(_ session: NTSSessionKeys, nonce: [UInt8]) -> [UInt8] {
        let id = bigEndian(keys[0].id)
        let plaintext =
            [UInt8(session.algorithm.rawValue >> 8), UInt8(session.algorithm.rawValue & 0xFF), 0, 0]
            + session.c2s + session.s2c
        return id + nonce + ciphers[keys[0].id]!.seal(plaintext, associatedData: [id, nonce])
    }

    /// The session in `cookie`, or nil: unknown key ID (retired, or another server's), bad length,
    /// or a cookie that is not authentic.
    public func open<Bytes: RandomAccessCollection>(_ cookie: Bytes) -> NTSSessionKeys?
    where Bytes.Element == UInt8 {
        let bytes = Array(cookie)
        let header = 4 + Self.nonceByteCount
        guard bytes.count >= header + AESSIVCMAC256.tagByteCount + 4 else { return nil }
        let id = Array(bytes[0..<4])
        let keyID = UInt32(id[0]) << 24 | UInt32(id[1]) << 16 | UInt32(id[2]) << 8 | UInt32(id[3])
        guard let cipher = ciphers[keyID] else { return nil }
        let nonce = Array(bytes[4..<header])
        guard let plaintext = cipher.open(Array(bytes[header...]), associatedData: [id, nonce]),
            let algorithm = NTSAEADAlgorithm(rawValue: UInt16(plaintext[0]) << 8 | UInt16(plaintext[1])),
            plaintext.count == 4 + 2 * algorithm.keyByteCount
        else { return nil }
        let split = 4 + algorithm.keyByteCount
        return NTSSessionKeys(
            algorithm: algorithm, c2s: Array(plaintext[4..<split]), s2c: Array(plaintext[split...]))
    }

    /// The size of every cookie for `algorithm`.
    public static func cookieByteCount(for algorithm: NTSAEADAlgorithm) -> Int {
        4 + nonceByteCount + AESSIVCMAC256.tagByteCount + 4 + 2 * algorithm.keyByteCount
    }
}

/// The cookie key file (`epoch nts keygen`, `epoch serve --nts-cookie-key`): one key a line, as
/// `<key ID, 8 hex digits> <key, 64 hex digits>`; the first line seals, later lines (the previous
/// key, kept for one rotation period) only open. `#` starts a comment line.
public enum NTSCookieKeyFile {
    public static func parse(_ contents: [UInt8]) throws(NTSCookieKeyring.Invalid) -> NTSCookieKeyring {
        var keys: [NTSCookieKey] = []
        let lines = contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        for (number, line) in lines.enumerated() {
            let fields = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
            if fields.isEmpty || fields[0].first == UInt8(ascii: "#") { continue }
            // The message names the line, never its contents.
            guard fields.count == 2, fields[0].count == 8, let id = hexBytes(fields[0]),
                fields[1].count == 64, let key = hexBytes(fields[1])
            else {
                throw NTSCookieKeyring.Invalid(
                    description: "line \(number + 1) is not '<8 hex digits of key ID> <64 hex digits of key>'")
            }
            keys.append(
                NTSCookieKey(
                    id: UInt32(id[0]) << 24 | UInt32(id[1]) << 16 | UInt32(id[2]) << 8 | UInt32(id[3]), key: key))
        }
        guard keys.count <= 8 else { throw NTSCookieKeyring.Invalid(description: "holds more than 8 keys") }
        return try NTSCookieKeyring(keys: keys)
    }

    /// The file's contents for `keys`, the sealing key first.
    public static func contents(_ keys: [NTSCookieKey]) -> [UInt8] {
        var text = "# epoch NTS cookie keys: <key ID> <AES-SIV-CMAC-256 key>; the first seals, the others open\n"
        for key in keys {
            text += hexString(bigEndian(key.id)) + " " + hexString(key.key) + "\n"
        }
        return Array(text.utf8)
    }
}

func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}
