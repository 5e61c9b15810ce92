import EpochServer
import Logging

extension Serve {
    /// The NTS-KE server and the NTS path of the NTP server, or nils when NTS is off. The files are
    /// read here, so that a bad one exits with its one line before anything listens.
    func makeNTS(
        _ configuration: (
            server: NTSKEServerConfiguration, cert: String, key: String, cookieKey: String, required: Bool
        )?,
        metrics: ServerMetrics, logger: Logger
    ) throws -> (NTSKEServer?, NTSNTPService?) {
        guard let configuration else { return (nil, nil) }
        let keyFiles: NTSKeyFiles
        do {
            keyFiles = try NTSKeyFiles(
                certificatePath: configuration.cert, privateKeyPath: configuration.key,
                cookieKeyPath: configuration.cookieKey, logger: logger)
        } catch {
            throw CommandFailure.usage(error.description)
        }
        let ntsMetrics = NTSMetrics(registry: metrics.registry)
        if configuration.server.wrongExporterContextForTesting {
            logger.warning("NTS-KE: testing switch on: keys from a wrong exporter context, no client will verify")
        }
        return (
            NTSKEServer(configuration: configuration.server, keyFiles: keyFiles, metrics: ntsMetrics, logger: logger),
            NTSNTPService(keyFiles: keyFiles, metrics: ntsMetrics, required: configuration.required)
        )
    }
}
