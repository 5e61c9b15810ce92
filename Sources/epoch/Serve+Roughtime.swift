import EpochCore
import EpochServer
import Logging

extension Serve {
    /// The Roughtime server when `--roughtime-port` (or EPOCH_ROUGHTIME_PORT) is set; it needs the key.
    func makeRoughtimeServer(
        _ configuration: ServerConfiguration, clock: ClockState, metrics: ServerMetrics, logger: Logger
    ) throws -> RoughtimeServer? {
        // An optional setting's flag is wrapped once more: a bare `Int?` would be promoted to
        // `.some(nil)` and hide the environment variable.
        let port = try resolve(
            roughtimePort.map { Optional($0) }, environment: "EPOCH_ROUGHTIME_PORT", default: nil,
            accepts: "a port 0-65535"
        ) { text -> Int?? in
            guard let port = Int(text) else { return nil }
            return port
        }
        guard let port else { return nil }
        guard (0...65535).contains(port) else {
            throw CommandFailure.usage("--roughtime-port \(port) is invalid: it accepts a port 0-65535")
        }
        let keyFile = try resolve(
            roughtimeKey.map { Optional($0) }, environment: "EPOCH_ROUGHTIME_KEY", default: nil, accepts: "a key file"
        ) { text -> String?? in text }
        guard let keyFile else {
            throw CommandFailure.usage(
                "--roughtime-port needs --roughtime-key FILE (make one with `epoch roughtime keygen FILE`)")
        }
        let key = try readRoughtimeKey(keyFile)
        do {
            return try RoughtimeServer(
                host: configuration.host, port: port, longTermKey: key, clock: clock, metrics: metrics,
                logger: logger, clockSkew: configuration.clockSkew)
        } catch {
            throw CommandFailure(message: "cannot start Roughtime: cannot delegate to an online key", exitCode: 1)
        }
    }
}
