import EpochCore
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A swift-log handler writing one JSON object per line to standard error:
/// `{"time":"…Z","level":"info","label":"epoch","message":"…","metadata":{…}}`, the shape
/// Fluent Bit, Vector and Loki's JSON parsers read without configuration.
///
/// Hand-rendered rather than through JSONEncoder (full Foundation) or a logging backend package:
/// the mirror offers none for swift-log's JSON, and every value here is a string, an array or a
/// dictionary of them, escaped by the same `jsonStringLiteral` the HTTP payloads use.
package struct JSONLogHandler: LogHandler {
    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let clock = WallClock()

    package init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var line = Self.render(
            time: clock.now(), level: event.level, label: label, message: "\(event.message)", metadata: merged)
        line += "\n"
        line.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }

    /// One log line without its newline; keys in a fixed order, metadata keys sorted.
    package static func render(
        time: UnixNanoseconds, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata
    ) -> String {
        var line = "{\"time\":\"\(rfc3339(unixNanoseconds: time))\",\"level\":\"\(level.rawValue)\","
        line += "\"label\":\(jsonStringLiteral(label)),\"message\":\(jsonStringLiteral(message))"
        if !metadata.isEmpty { line += ",\"metadata\":" + json(.dictionary(metadata)) }
        return line + "}"
    }

    private static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): jsonStringLiteral(text)
        case .stringConvertible(let convertible): jsonStringLiteral(convertible.description)
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let entries):
            "{"
                + entries.sorted { $0.key < $1.key }.map { jsonStringLiteral($0.key) + ":" + json($0.value) }
                .joined(separator: ",") + "}"
        }
    }
}
