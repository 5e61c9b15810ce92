import EpochCore
import Logging
import NIOConcurrencyHelpers
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The files NTS reads: the TLS certificate chain and key (cert-manager renews them in place) and
/// the cookie key file (a Secret, rotated by the operator). Each is read again when its identity
/// changes (device, inode, size, modification time: a Kubernetes volume swaps a symlink, an editor
/// rewrites the file), and a file that does not load keeps the previous contents in use.
public final class NTSKeyFiles: Sendable {
    public let certificatePath: String
    public let privateKeyPath: String
    public let cookieKeyPath: String
    private let logger: Logger

    struct TLSMaterial {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
    }

    private struct State {
        var tls: TLSMaterial
        var tlsIdentity: [FileIdentity]
        var keyring: NTSCookieKeyring
        var keyIdentity: FileIdentity
    }

    private let state: NIOLockedValueBox<State>

    /// A file that cannot be read or parsed, named with the option that gave it; never its contents.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads every file once; throws the first that does not load.
    public init(certificatePath: String, privateKeyPath: String, cookieKeyPath: String, logger: Logger) throws(Failure)
    {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.cookieKeyPath = cookieKeyPath
        self.logger = logger
        let tls = try Self.loadTLS(certificatePath, privateKeyPath)
        let keyring = try Self.loadKeyring(cookieKeyPath)
        state = NIOLockedValueBox(
            State(
                tls: tls, tlsIdentity: [FileIdentity(certificatePath), FileIdentity(privateKeyPath)],
                keyring: keyring, keyIdentity: FileIdentity(cookieKeyPath)))
    }

    var tls: TLSMaterial { state.withLockedValue { $0.tls } }
    public var keyring: NTSCookieKeyring { state.withLockedValue { $0.keyring } }

    /// Reloads what changed since the last look. Called at every NTS-KE connection and every few
    /// seconds; a stat per file, no read unless something changed.
    public func refresh() {
        let tlsIdentity = [FileIdentity(certificatePath), FileIdentity(privateKeyPath)]
        let keyIdentity = FileIdentity(cookieKeyPath)
        let (tlsChanged, keyChanged) = state.withLockedValue {
            ($0.tlsIdentity != tlsIdentity, $0.keyIdentity != keyIdentity)
        }
        if tlsChanged {
            do {
                let tls = try Self.loadTLS(certificatePath, privateKeyPath)
                state.withLockedValue {
                    $0.tls = tls
                    $0.tlsIdentity = tlsIdentity
                }
                logger.info("NTS-KE certificate reloaded", metadata: ["file": "\(certificatePath)"])
            } catch {
                // A half-written pair: keep serving the old one, look again next time.
                logger.warning("NTS-KE certificate not reloaded", metadata: ["error": "\(error)"])
            }
        }
        if keyChanged {
            do {
                var keyring = try Self.loadKeyring(cookieKeyPath)
                state.withLockedValue {
                    // The sealing key just replaced still opens cookies for one rotation period
                    // (until the next rotation), even when the new file does not list it.
                    let previous = $0.keyring.keys[0]
                    if !keyring.keys.contains(where: { $0.id == previous.id }),
                        let extended = try? NTSCookieKeyring(keys: keyring.keys + [previous])
                    {
                        keyring = extended
                    }
                    $0.keyring = keyring
                    $0.keyIdentity = keyIdentity
                }
                logger.info(
                    "NTS cookie keys reloaded",
                    metadata: ["file": "\(cookieKeyPath)", "key-ids": "\(keyring.keys.map(\.id))"])
            } catch {
                logger.warning("NTS cookie keys not reloaded", metadata: ["error": "\(error)"])
            }
        }
    }

    private static func loadTLS(_ certificatePath: String, _ privateKeyPath: String) throws(Failure) -> TLSMaterial {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw Failure(description: "--nts-cert \(certificatePath): not a readable PEM certificate chain")
        }
        guard !chain.isEmpty else {
            throw Failure(description: "--nts-cert \(certificatePath): holds no certificate")
        }
        do {
            return TLSMaterial(chain: chain, key: try NIOSSLPrivateKey(file: privateKeyPath, format: .pem))
        } catch {
            throw Failure(description: "--nts-key \(privateKeyPath): not a readable PEM private key")
        }
    }

    private static func loadKeyring(_ path: String) throws(Failure) -> NTSCookieKeyring {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw Failure(description: "--nts-cookie-key \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var contents = [UInt8](repeating: 0, count: 4096)
        let count = contents.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count >= 0 else {
            throw Failure(description: "--nts-cookie-key \(path): \(String(cString: strerror(errno)))")
        }
        do {
            return try NTSCookieKeyFile.parse(Array(contents[..<count]))
        } catch {
            throw Failure(
                description: "--nts-cookie-key \(path) \(error.description) (make one with `epoch nts keygen`)")
        }
    }
}

/// What identifies a file's contents without reading them.
struct FileIdentity: Equatable {
    var device: UInt64 = 0
    var inode: UInt64 = 0
    var size: Int64 = -1
    var modified: Int64 = 0

    init(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }
}
