import ArgumentParser
import EpochServer
import Logging

/// `epoch serve`'s NTS options (RFC 8915). NTS is off unless an NTS-KE port is given; it needs the
/// NTP server (`--ntp-port`), whose requests it authenticates.
struct NTSArguments: ParsableArguments {
    @Option(
        help: """
            Serve NTS-KE (TLS 1.3, ALPN ntske/1) on this TCP port, 0-65535; 4460 is the standard one. \
            Needs --ntp-port, --nts-cert, --nts-key and --nts-cookie-key (EPOCH_NTS_KE_PORT; default: off).
            """)
    var ntsKePort: Int?

    @Option(help: "PEM certificate chain for NTS-KE, reloaded when it changes (EPOCH_NTS_CERT).")
    var ntsCert: String?

    @Option(help: "PEM private key of --nts-cert, reloaded when it changes (EPOCH_NTS_KEY).")
    var ntsKey: String?

    @Option(
        help: """
            File of NTS cookie keys from `epoch nts keygen`, the same for every replica; reloaded when \
            it changes (EPOCH_NTS_COOKIE_KEY).
            """)
    var ntsCookieKey: String?

    @Option(
        help: """
            The NTP port NTS-KE tells clients, 1-65535: where they reach --ntp-port, e.g. a Service's \
            port (EPOCH_NTS_NTP_PORT; default: --ntp-port).
            """)
    var ntsNtpPort: Int?

    @Flag(help: "Drop NTP requests without NTS, counted (EPOCH_NTS_REQUIRED=1; default: answered as plain NTP).")
    var ntsRequired = false

    @Flag(help: .hidden)
    var testingNtsWrongExporterContext = false

    /// NTS's configuration, or nil when NTS is off.
    func configuration(host: String, ntp: NTPServerConfiguration?) throws -> (
        server: NTSKEServerConfiguration, cert: String, key: String, cookieKey: String, required: Bool
    )? {
        let port = try resolve(ntsKePort, environment: "EPOCH_NTS_KE_PORT", accepts: "a port 0-65535") { Int($0) }
        let required = try resolve(
            ntsRequired ? true : nil, environment: "EPOCH_NTS_REQUIRED", default: false, accepts: "true or false"
        ) { ["true": true, "1": true, "false": false, "0": false][$0.lowercased()] }
        guard let port else {
            if required { throw CommandFailure.usage("--nts-required needs --nts-ke-port") }
            return nil
        }
        guard (0...65535).contains(port) else {
            throw CommandFailure.usage("--nts-ke-port \(port) is invalid: it accepts a port 0-65535")
        }
        guard let ntp else { throw CommandFailure.usage("--nts-ke-port needs --ntp-port: NTS authenticates NTP") }
        func file(_ flag: String?, _ option: String, _ environment: String) throws -> String {
            let path = try resolve(flag, environment: environment, accepts: "a file", parse: { $0 })
            guard let path else { throw CommandFailure.usage("--nts-ke-port needs \(option) FILE") }
            return path
        }
        let cert = try file(ntsCert, "--nts-cert", "EPOCH_NTS_CERT")
        let key = try file(ntsKey, "--nts-key", "EPOCH_NTS_KEY")
        let cookieKey = try file(ntsCookieKey, "--nts-cookie-key", "EPOCH_NTS_COOKIE_KEY")
        let advertised = try resolve(ntsNtpPort, environment: "EPOCH_NTS_NTP_PORT", accepts: "a port 1-65535") {
            Int($0)
        }
        if let advertised, !(1...65535).contains(advertised) {
            throw CommandFailure.usage("--nts-ntp-port \(advertised) is invalid: it accepts a port 1-65535")
        }
        var server = NTSKEServerConfiguration()
        server.host = host
        server.port = port
        let ntpPort = advertised ?? ntp.port
        // 123 is what clients assume without a Port Negotiation record; 0 (a test's free port)
        // cannot be told before it is bound, and tests give the port explicitly.
        server.ntpPort = ntpPort == 123 || ntpPort == 0 ? nil : UInt16(ntpPort)
        server.wrongExporterContextForTesting = testingNtsWrongExporterContext
        return (server, cert, key, cookieKey, required)
    }
}
