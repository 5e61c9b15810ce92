import Crypto
import FoundationEssentials

/// Keys as text: base64 of the 32 raw bytes, the form roughly, roughenough's clients and server
/// lists publish. The long-term key file holds the private seed this way, one line.
public enum RoughtimeKeyText {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// A public key given on the command line. The message never repeats the text.
    public static func publicKey(_ text: String) throws(Invalid) -> Curve25519.Signing.PublicKey {
        guard let bytes = Data(base64Encoded: text.trimmingWhitespace()), bytes.count == 32,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)
        else {
            throw Invalid(description: "--public-key is not the base64 of a 32-byte Ed25519 public key")
        }
        return key
    }

    /// A long-term private key from the key file's contents. The message never carries the contents.
    public static func privateKey(_ contents: [UInt8]) throws(Invalid) -> Curve25519.Signing.PrivateKey {
        let text = String(decoding: contents, as: UTF8.self).trimmingWhitespace()
        guard let bytes = Data(base64Encoded: text), bytes.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes)
        else {
            throw Invalid(description: "is not one line of base64 holding a 32-byte Ed25519 seed")
        }
        return key
    }

    /// The key file's contents for `key`.
    public static func fileContents(_ key: Curve25519.Signing.PrivateKey) -> [UInt8] {
        Array((key.rawRepresentation.base64EncodedString() + "\n").utf8)
    }

    public static func text(_ key: Curve25519.Signing.PublicKey) -> String {
        key.rawRepresentation.base64EncodedString()
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

/// A Roughtime server as `epoch sync` and `check` take it: `roughtime://host:port`, IPv6 hosts in
/// brackets. The port is required: deployments use 2002 and 5319 alike.
public struct RoughtimeAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public static let scheme = "roughtime://"

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public static func isRoughtime(_ text: String) -> Bool { text.lowercased().hasPrefix(scheme) }

    public init(parsing text: String) throws(Invalid) {
        let usage = "invalid Roughtime address \(jsonStringLiteral(text)): expected roughtime://HOST:PORT"
        guard Self.isRoughtime(text) else { throw Invalid(description: usage) }
        let authority = text.dropFirst(Self.scheme.count)
        let host: Substring
        let portText: Substring
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            guard rest.hasPrefix(":") else { throw Invalid(description: usage) }
            portText = rest.dropFirst()
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            throw Invalid(description: usage)
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) }),
            let port = Int(portText), (1...65535).contains(port)
        else { throw Invalid(description: usage) }
        self.host = String(host)
        self.port = port
    }

    public var description: String { Self.scheme + (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
}
