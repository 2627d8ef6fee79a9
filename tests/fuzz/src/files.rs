//! Files a user hands Weir: the config, the Jaeger strategies file, the lab's scenarios and
//! recordings. Whatever the bytes, parsing returns a value or an error whose message renders.

/// `weir validate` on a config file: parse, expand `${VAR}`s, validate, render the error.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A few variables exist, so expansion paths with and without values both run.
    let lookup = |name: &str| match name {
        "ENDPOINT" => Some("127.0.0.1:4317".to_string()),
        "MULTILINE" => Some("a\nb = 1".to_string()),
        _ => None,
    };
    match weir_config::Config::parse("weir.toml", text, &lookup) {
        Ok(config) => drop(format!("{config:?}")),
        Err(e) => assert!(!e.to_string().is_empty(), "an error says something"),
    }
}

/// A Jaeger `--sampling.strategies-file`, and the answer for a few services.
pub fn jaeger_strategies(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match weir_jaeger_sampling::Strategies::parse("strategies.json", text) {
        Ok(s) => {
            for service in ["checkout", "", "unknown"] {
                let answer = s.response(service);
                // The answer goes out as JSON: it must serialise.
                assert!(serde_json::to_string(&answer).is_ok());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// A lab scenario (TOML).
pub fn lab_scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = weir_lab::Scenario::parse("scenario.toml", text) {
        assert!(!e.to_string().is_empty());
    }
}

/// A lab recording (OTLP requests as written by the file exporter).
pub fn lab_recording(data: &[u8]) {
    if let Err(e) = weir_lab::Recorded::load("recording", data) {
        assert!(!e.to_string().is_empty());
    }
}
