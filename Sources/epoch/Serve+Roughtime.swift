import EpochCore
import EpochServer
import Logging

extension Serve {
    /// The Roughtime server when `--roughtime-port` (or EPOCH_ROUGHTIME_PORT) is set; it needs the key.
    func makeRoughtimeServer(
        _ configuration: ServerConfiguration, clock: ClockState, metrics: ServerMetrics, logger: Logger
    ) throws -> RoughtimeServer? {
        guard let port = try resolvePort(roughtimePort, option: "--roughtime-port", environment: "EPOCH_ROUGHTIME_PORT")
        else { return nil }
        let keyFile = try resolve(roughtimeKey, environment: "EPOCH_ROUGHTIME_KEY", accepts: "a key file") { $0 }
        guard let keyFile else {
            throw CommandFailure.usage(
                "--roughtime-port needs --roughtime-key FILE (make one with `epoch roughtime keygen FILE`)")
        }
        let key = try readRoughtimeKey(keyFile)
        let serveUnsynchronized = try resolve(
            roughtimeServeUnsynchronized ? true : nil, environment: "EPOCH_ROUGHTIME_SERVE_UNSYNCHRONIZED",
            default: false, accepts: "true or false"
        ) { ["true": true, "1": true, "false": false, "0": false][$0.lowercased()] }
        do {
            return try RoughtimeServer(
                host: configuration.host, port: port, longTermKey: key, clock: clock, metrics: metrics,
                logger: logger, clockSkew: configuration.clockSkew, serveUnsynchronized: serveUnsynchronized)
        } catch {
            throw CommandFailure(message: "cannot start Roughtime: cannot delegate to an online key", exitCode: 1)
        }
    }
}
