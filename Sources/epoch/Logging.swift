import ArgumentParser
import EpochServer
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `--log-format`: JSON lines for log collectors, text for people.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case json
    case text

    static let accepts = "json or text"

    /// JSON when standard error is not a terminal (a container's log stream, a file, a pipe),
    /// text on a terminal.
    static var detected: LogFormat { isatty(STDERR_FILENO) == 1 ? .text : .json }
}

/// The logging options `serve` and `watch` share, with their environment fallbacks.
struct LoggingArguments: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical (EPOCH_LOG_LEVEL; default info).")
    var logLevel: String?

    @Option(
        help: """
            json (one object a line: time, level, label, message, metadata) or text (EPOCH_LOG_FORMAT; \
            default: json unless standard error is a terminal).
            """)
    var logFormat: LogFormat?

    private static let levels = "trace, debug, info, notice, warning, error or critical"

    /// Sets up swift-log once for the process; every failure is one usage line.
    func bootstrap() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw CommandFailure.usage("--log-level \(logLevel) is invalid: it accepts \(Self.levels)")
        }
        let level = try resolve(
            logLevel.flatMap(Logger.Level.init(rawValue:)), environment: "EPOCH_LOG_LEVEL", default: .info,
            accepts: Self.levels, parse: Logger.Level.init(rawValue:))
        let format = try resolve(
            logFormat, environment: "EPOCH_LOG_FORMAT", default: LogFormat.detected, accepts: LogFormat.accepts,
            parse: LogFormat.init(rawValue:))
        LoggingSystem.bootstrap { label in
            switch format {
            case .json:
                return JSONLogHandler(label: label, level: level)
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}
