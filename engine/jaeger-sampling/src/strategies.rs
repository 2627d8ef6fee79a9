//! The strategies file and the answers served from it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

/// What is wrong with a strategies file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read.
    #[error("{file}: cannot read it: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid JSON or does not have the format's shape.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json found.
        message: String,
    },
    /// A value is out of range or a name is repeated.
    #[error("{file}: {path}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// Where in the document, e.g. `service_strategies[1].param`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOperation {
    operation: String,
    #[serde(rename = "type")]
    kind: String,
    param: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    service: String,
    #[serde(rename = "type")]
    kind: String,
    param: f64,
    #[serde(default)]
    operation_strategies: Vec<RawOperation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefault {
    #[serde(rename = "type")]
    kind: String,
    param: f64,
    #[serde(default)]
    operation_strategies: Vec<RawOperation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    service_strategies: Vec<RawService>,
    default_strategy: Option<RawDefault>,
}

/// A head-sampling strategy.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    /// Sample this share of traces (0–1).
    Probabilistic(f64),
    /// Sample at most this many traces per second.
    RateLimiting(f64),
}

/// A service's strategy with its per-operation probabilities.
#[derive(Debug, Clone, PartialEq)]
struct Service {
    strategy: Strategy,
    operations: Vec<(String, f64)>,
}

/// Parsed, checked strategies: per service, and a default for the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategies {
    services: BTreeMap<String, Service>,
    default: Service,
}

/// Jaeger's default when a file has no `default_strategy`: probabilistic 0.001.
const DEFAULT_PROBABILITY: f64 = 0.001;

fn strategy(file: &str, path: &str, kind: &str, param: f64) -> Result<Strategy, Error> {
    let invalid = |message: String| Error::Invalid {
        file: file.to_string(),
        path: path.to_string(),
        message,
    };
    match kind {
        "probabilistic" if (0.0..=1.0).contains(&param) => Ok(Strategy::Probabilistic(param)),
        "probabilistic" => Err(invalid(format!(
            "param {param}: a probability must be between 0 and 1"
        ))),
        "ratelimiting" if param >= 0.0 && param.is_finite() => Ok(Strategy::RateLimiting(param)),
        "ratelimiting" => Err(invalid(format!(
            "param {param}: traces per second must be 0 or more"
        ))),
        other => Err(invalid(format!(
            "type {other:?}: use \"probabilistic\" or \"ratelimiting\""
        ))),
    }
}

fn operations(file: &str, at: &str, raw: &[RawOperation]) -> Result<Vec<(String, f64)>, Error> {
    let mut seen = std::collections::BTreeSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, op)| {
            let path = format!("{at}.operation_strategies[{i}]");
            if !seen.insert(op.operation.as_str()) {
                return Err(Error::Invalid {
                    file: file.to_string(),
                    path,
                    message: format!("operation {:?} is listed twice", op.operation),
                });
            }
            // Jaeger's per-operation strategies are probabilistic only.
            match strategy(file, &path, &op.kind, op.param)? {
                Strategy::Probabilistic(p) => Ok((op.operation.clone(), p)),
                Strategy::RateLimiting(_) => Err(Error::Invalid {
                    file: file.to_string(),
                    path,
                    message: "operations take \"probabilistic\" strategies only (as in Jaeger)"
                        .into(),
                }),
            }
        })
        .collect()
}

impl Strategies {
    /// Parses and checks a strategies file's text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Strategies, Error> {
        let raw: RawFile = serde_json::from_str(text).map_err(|e| Error::Syntax {
            file: file.to_string(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
        })?;
        let default = match &raw.default_strategy {
            Some(d) => Service {
                strategy: strategy(file, "default_strategy", &d.kind, d.param)?,
                operations: operations(file, "default_strategy", &d.operation_strategies)?,
            },
            None => Service {
                strategy: Strategy::Probabilistic(DEFAULT_PROBABILITY),
                operations: Vec::new(),
            },
        };
        let mut services = BTreeMap::new();
        for (i, s) in raw.service_strategies.iter().enumerate() {
            let at = format!("service_strategies[{i}]");
            let service = Service {
                strategy: strategy(file, &at, &s.kind, s.param)?,
                operations: operations(file, &at, &s.operation_strategies)?,
            };
            if services.insert(s.service.clone(), service).is_some() {
                return Err(Error::Invalid {
                    file: file.to_string(),
                    path: format!("{at}.service"),
                    message: format!("service {:?} is listed twice", s.service),
                });
            }
        }
        Ok(Strategies { services, default })
    }

    /// The number of services with their own strategy.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// The answer for `service`, in Jaeger's `SamplingStrategyResponse` JSON, following
    /// Jaeger's static strategy store: the service's own strategy, or the default one; the
    /// service's operation strategies plus the default's for operations it does not list. The
    /// operations' default probability is the service's rate when it is probabilistic; for a
    /// rate-limited service it is 0.001 when the service lists operations of its own, and the
    /// default strategy's rate otherwise.
    pub fn response(&self, service: &str) -> Value {
        let own = self.services.get(service);
        let s = own.unwrap_or(&self.default);
        let mut out = match s.strategy {
            Strategy::Probabilistic(p) => json!({
                "strategyType": "PROBABILISTIC",
                "probabilisticSampling": { "samplingRate": p },
            }),
            // Jaeger truncates the rate to an integer; clients parse an integer.
            Strategy::RateLimiting(n) => json!({
                "strategyType": "RATE_LIMITING",
                "rateLimitingSampling": { "maxTracesPerSecond": n.trunc() as u64 },
            }),
        };
        let mut ops: Vec<(&str, f64)> =
            s.operations.iter().map(|(o, p)| (o.as_str(), *p)).collect();
        if own.is_some() {
            for (op, p) in &self.default.operations {
                if !s.operations.iter().any(|(o, _)| o == op) {
                    ops.push((op, *p));
                }
            }
        }
        if !ops.is_empty() {
            let default_probability = match (s.strategy, self.default.strategy) {
                (Strategy::Probabilistic(p), _) => p,
                (Strategy::RateLimiting(_), _) if !s.operations.is_empty() => DEFAULT_PROBABILITY,
                (_, Strategy::Probabilistic(p)) => p,
                _ => DEFAULT_PROBABILITY,
            };
            out["operationSampling"] = json!({
                "defaultSamplingProbability": default_probability,
                "defaultLowerBoundTracesPerSecond": 0.0,
                "perOperationStrategies": ops.iter().map(|(op, p)| json!({
                    "operation": op,
                    "probabilisticSampling": { "samplingRate": p },
                })).collect::<Vec<_>>(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    const FILE: &str = r#"{
      "service_strategies": [
        {"service": "checkout", "type": "probabilistic", "param": 0.5,
         "operation_strategies": [{"operation": "POST /pay", "type": "probabilistic", "param": 1.0}]},
        {"service": "search", "type": "ratelimiting", "param": 5}
      ],
      "default_strategy": {"type": "probabilistic", "param": 0.1,
        "operation_strategies": [{"operation": "GET /health", "type": "probabilistic", "param": 0.0}]}
    }"#;

    #[test]
    fn serves_each_service_its_strategy_in_jaegers_format() {
        let s = Strategies::parse("s.json", FILE).unwrap();
        assert_eq!(
            s.response("checkout"),
            json!({
                "strategyType": "PROBABILISTIC",
                "probabilisticSampling": {"samplingRate": 0.5},
                "operationSampling": {
                    "defaultSamplingProbability": 0.5,
                    "defaultLowerBoundTracesPerSecond": 0.0,
                    "perOperationStrategies": [
                        {"operation": "POST /pay", "probabilisticSampling": {"samplingRate": 1.0}},
                        // The default's operations apply unless the service lists them.
                        {"operation": "GET /health", "probabilisticSampling": {"samplingRate": 0.0}}
                    ]
                }
            })
        );
        // A rate-limited service gets the default's operations with the default's probability.
        assert_eq!(
            s.response("search")["rateLimitingSampling"],
            json!({"maxTracesPerSecond": 5})
        );
        assert_eq!(
            s.response("search")["operationSampling"]["defaultSamplingProbability"],
            json!(0.1)
        );
        // Unknown services get the default strategy.
        assert_eq!(
            s.response("other")["probabilisticSampling"],
            json!({"samplingRate": 0.1})
        );
        assert_eq!(s.service_count(), 2);
    }

    #[test]
    fn a_rate_limited_service_with_operations_defaults_them_to_jaegers_probability() {
        let s = Strategies::parse(
            "s.json",
            r#"{"service_strategies": [{"service": "a", "type": "ratelimiting", "param": 2.9,
              "operation_strategies": [{"operation": "x", "type": "probabilistic", "param": 0.5}]}],
              "default_strategy": {"type": "probabilistic", "param": 0.3}}"#,
        )
        .unwrap();
        let r = s.response("a");
        assert_eq!(r["rateLimitingSampling"], json!({"maxTracesPerSecond": 2}));
        assert_eq!(
            r["operationSampling"]["defaultSamplingProbability"],
            json!(0.001)
        );
    }

    #[test]
    fn a_file_without_a_default_gets_jaegers() {
        let s = Strategies::parse("s.json", "{}").unwrap();
        assert_eq!(
            s.response("x"),
            json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.001}})
        );
    }

    #[test]
    fn errors_say_where() {
        let e = |text: &str| Strategies::parse("s.json", text).unwrap_err().to_string();
        assert_eq!(
            e("{\n  \"service_strategies\": [\n    {\"service\": \"a\" \"type\": 1}]}"),
            "s.json:3:21: expected `,` or `}`"
        );
        assert!(
            e(r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 2}]}"#)
                .starts_with(
                    "s.json: service_strategies[0]: param 2: a probability must be between 0 and 1"
                )
        );
        assert!(
            e(r#"{"default_strategy": {"type": "adaptive", "param": 1}}"#).contains(
                "default_strategy: type \"adaptive\": use \"probabilistic\" or \"ratelimiting\""
            )
        );
        assert!(
            e(
                r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 1},
            {"service": "a", "type": "probabilistic", "param": 1}]}"#
            )
            .contains("service_strategies[1].service: service \"a\" is listed twice")
        );
        assert!(
            e(
                r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 1,
            "operation_strategies": [{"operation": "x", "type": "ratelimiting", "param": 1}]}]}"#
            )
            .contains("service_strategies[0].operation_strategies[0]: operations take")
        );
        assert!(e(r#"{"services": []}"#).contains("unknown field `services`"));
    }
}
