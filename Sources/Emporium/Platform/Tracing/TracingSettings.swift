import Foundation

/// The settings of tracing and the slow-query log; listed in `ConfigurationSetting.all`.
extension ConfigurationSetting {
    public static let otelEndpoint = ConfigurationSetting(
        name: "otel-endpoint", defaultValue: "",
        summary: "OTLP/HTTP collector to send traces to (e.g. http://127.0.0.1:4318; spans go to /v1/traces as protobuf); unset turns tracing off."
    ) { configuration, text throws(ConfigurationError) in
        guard !text.isEmpty else {
            configuration.otelEndpoint = nil
            return
        }
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.query == nil,
            url.user == nil
        else {
            throw ConfigurationError(
                description: "invalid value '\(text.prefix(64))' for --otel-endpoint (EMPORIUM_OTEL_ENDPOINT): expected an http(s) URL such as http://127.0.0.1:4318")
        }
        configuration.otelEndpoint = text
    }

    public static let otelServiceName = ConfigurationSetting(
        name: "otel-service-name", defaultValue: "emporium",
        summary: "The service.name traces carry, to tell this deployment's spans from other systems'."
    ) { configuration, text throws(ConfigurationError) in
        guard !text.isEmpty, text.count <= 128, !text.contains(where: { $0.isNewline }) else {
            throw ConfigurationError(
                description: "invalid value '\(text.prefix(64))' for --otel-service-name (EMPORIUM_OTEL_SERVICE_NAME): expected 1 to 128 characters on one line")
        }
        configuration.otelServiceName = text
    }

    public static let slowQueryThreshold = ConfigurationSetting(
        name: "slow-query-threshold", defaultValue: "200",
        summary: "Milliseconds after which a statement is logged as a slow query (its name and duration, never its values); 0 is off."
    ) { configuration, text throws(ConfigurationError) in
        // Fractions are allowed (0.5); tests use a tiny one to see every statement logged.
        guard let milliseconds = Double(text), milliseconds.isFinite, (0...3_600_000).contains(milliseconds) else {
            throw ConfigurationError(
                description: "invalid value '\(text.prefix(64))' for --slow-query-threshold (EMPORIUM_SLOW_QUERY_THRESHOLD): expected milliseconds from 0 to 3600000")
        }
        configuration.slowQueryThreshold = milliseconds == 0 ? nil : .nanoseconds(Int64(milliseconds * 1_000_000))
    }
}
