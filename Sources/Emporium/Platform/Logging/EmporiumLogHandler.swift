import EmporiumCore
import Foundation
public import Logging
import OTel
import Tracing

/// Formats swift-log records as one line each: readable text by default, or JSON lines
/// (`--log-format json`) for log shippers. Metadata, including the request id, is part of
/// every line; so are the trace and span id (`trace_id`, `span_id`) of the span the line was
/// written in when tracing is on, and the request id of lines written away from the
/// request's logger (the slow-query log), both taken from the task's service context.
public struct EmporiumLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: AppConfiguration.LogFormat
    let sink: any LogSink

    public init(label: String, format: AppConfiguration.LogFormat, level: Logger.Level, sink: any LogSink) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.sink = sink
    }

    /// Hummingbird files each request's logger under this key; lines call it `request_id`.
    static let requestIDKey = "hb.request.id"

    /// `trace_id` and `span_id` of the current span (its flags are left out: every exported
    /// span is sampled).
    private static let traceMetadata = OTel.makeLoggingMetadataProvider()

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let context = ServiceContext.current {
            if merged[Self.requestIDKey] == nil, let id = context.requestID { merged[Self.requestIDKey] = .string(id) }
            if context.otelTraceID != nil {
                var trace = Self.traceMetadata.get()
                trace["trace_flags"] = nil
                merged.merge(trace) { own, _ in own }
            }
        }
        let time = Timestamp.string(from: Date())
        switch format {
        case .text:
            let message = event.message.description
            var line = "\(time) \(event.level.rawValue.uppercased()) \(Self.needsQuoting(message) ? Self.quoted(message) : message)"
            for key in merged.keys.sorted() {
                let value = Self.textValue(merged[key]!)
                line += " \(Self.displayName(key))=\(value.isEmpty || value.contains(" ") || Self.needsQuoting(value) ? Self.quoted(value) : value)"
            }
            sink.write(line)
        case .json:
            var line = "{\"time\":\"\(time)\",\"level\":\"\(event.level.rawValue)\",\"label\":\(Self.quoted(label)),\"message\":\(Self.quoted(event.message.description))"
            for key in merged.keys.sorted() {
                line += ",\(Self.quoted(Self.displayName(key))):\(Self.quoted(Self.textValue(merged[key]!)))"
            }
            sink.write(line + "}")
        }
    }

    private static func displayName(_ key: String) -> String {
        key == requestIDKey ? "request_id" : key
    }

    private static func textValue(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map(textValue).joined(separator: ",") + "]"
        case .dictionary(let values):
            "{" + values.keys.sorted().map { "\($0):\(textValue(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// Whether text would break the one-line-per-record shape or be ambiguous unquoted.
    static func needsQuoting(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || $0 == "\"" }
    }

    /// A JSON string literal; control characters are escaped so a value cannot break a line.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
