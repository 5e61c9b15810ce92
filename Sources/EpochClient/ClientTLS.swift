import EpochCore
import NIOCore

#if TLS
import NIOSSL
#endif

/// https:// for the HTTP sources, through swift-nio-ssl. It is the package's `TLS` trait (on by
/// default): `make release` builds without it, because the server the image ships never speaks
/// TLS itself and swift-nio-ssl's own BoringSSL is 1.8 MB of the static binary (issue 10,
/// docs/benchmark.md). Without the trait an https:// source fails with one line saying so.
struct ClientTLS: Sendable {
    #if TLS
    private let context: NIOSSLContext
    #endif

    /// The TLS settings for `url`, or nil when it is plain http://.
    static func make(for url: ServiceURL, options: SamplingOptions) throws -> ClientTLS? {
        guard url.scheme == .https else { return nil }
        #if TLS
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let file = options.trustedCertificatesFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
            } catch {
                throw SyncFailure.unreachable("cannot read CA certificates from \(file): \(error)")
            }
        }
        return ClientTLS(context: try NIOSSLContext(configuration: configuration))
        #else
        throw SyncFailure.unreachable(
            "cannot reach \(url): this epoch was built without TLS (make release, the image's build); "
                + "https:// sources need the TLS trait: swift build -c release")
        #endif
    }

    /// Puts the TLS client in front of the HTTP handlers. `serverHostname` is nil for an address.
    func addHandler(to pipeline: ChannelPipeline.SynchronousOperations, serverHostname: String?) throws {
        #if TLS
        try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverHostname))
        #endif
    }

    /// Whether `error` is a TLS failure (a handshake refused, an untrusted certificate).
    static func isTLSError(_ error: any Error) -> Bool {
        #if TLS
        return error is NIOSSLError
        #else
        return false
        #endif
    }
}
