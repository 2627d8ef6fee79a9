//! OTLP metrics (as OTLP/JSON) to Prometheus series, after the OpenTelemetry specification's
//! "Prometheus and OpenMetrics Compatibility" rules.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::proto::Series;

/// What a batch becomes.
#[derive(Debug, Default)]
pub(crate) struct Converted {
    pub series: Vec<Series>,
    /// Data points that have no Prometheus form (delta temporality, exponential histograms).
    pub rejected: u64,
    /// Why, once per metric.
    pub why: Vec<String>,
}

/// A number written as a JSON number or a string (64-bit integers are strings in OTLP/JSON).
fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// An attribute value as label text.
fn text(v: &Value) -> String {
    for key in ["stringValue", "boolValue", "intValue", "doubleValue"] {
        match v.get(key) {
            Some(Value::String(s)) => return s.clone(),
            Some(other @ (Value::Bool(_) | Value::Number(_))) => return other.to_string(),
            _ => {}
        }
    }
    // Arrays, maps and bytes: their JSON.
    v.as_object()
        .and_then(|o| o.values().next())
        .map(Value::to_string)
        .unwrap_or_default()
}

fn attributes(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|kv| {
                    Some((kv.get("key")?.as_str()?.to_string(), text(kv.get("value")?)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` (`colons` false for label names), runs of `_` collapsed.
fn sanitize(name: &str, colons: bool) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':');
        let c = if ok { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, if colons { "_" } else { "key_" });
    }
    out
}

/// The Prometheus unit word for an OTel unit (`ms` → `milliseconds`); `None` for none.
fn unit_word(unit: &str, gauge: bool) -> Option<String> {
    // Annotations such as `{requests}` carry no unit.
    let unit = unit.split('{').next().unwrap_or("").trim();
    let word = |u: &str| -> String {
        match u {
            "d" => "days",
            "h" => "hours",
            "min" => "minutes",
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "ns" => "nanoseconds",
            "By" => "bytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "GiBy" => "gibibytes",
            "KBy" => "kilobytes",
            "MBy" => "megabytes",
            "GBy" => "gigabytes",
            "m" => "meters",
            "V" => "volts",
            "A" => "amperes",
            "J" => "joules",
            "W" => "watts",
            "g" => "grams",
            "Cel" => "celsius",
            "Hz" => "hertz",
            "%" => "percent",
            other => other,
        }
        .to_string()
    };
    match unit {
        "" => None,
        "1" if gauge => Some("ratio".into()),
        "1" => None,
        u => Some(match u.split_once('/') {
            Some((a, b)) if !b.is_empty() => {
                let per = match b {
                    "s" => "second",
                    "m" => "minute",
                    "h" => "hour",
                    "d" => "day",
                    other => other,
                };
                if a.is_empty() {
                    format!("per_{per}")
                } else {
                    format!("{}_per_{per}", word(a))
                }
            }
            _ => word(u),
        }),
    }
}

/// The metric's Prometheus name.
fn metric_name(name: &str, unit: &str, gauge: bool, total: bool, with_unit: bool) -> String {
    let mut out = sanitize(name, true);
    if with_unit && let Some(u) = unit_word(unit, gauge) {
        let u = sanitize(&u, false);
        if !out.ends_with(&format!("_{u}")) {
            out = format!("{out}_{u}");
        }
    }
    if total && !out.ends_with("_total") {
        out.push_str("_total");
    }
    out
}

/// Gathers samples by label set, so that one request carries each series once.
#[derive(Default)]
struct Out(BTreeMap<Labels, Vec<(f64, i64)>>);

/// A series' labels, sorted.
type Labels = Vec<(String, String)>;

impl Out {
    fn push(
        &mut self,
        name: &str,
        labels: &[(String, String)],
        extra: Option<(&str, String)>,
        value: f64,
        ts: i64,
    ) {
        // The converter's own labels first: on equal names the first one is kept, so a data
        // point attribute called `le`, `quantile` or `__name__` cannot replace them.
        let mut l: Vec<(String, String)> = vec![("__name__".into(), name.to_string())];
        if let Some((k, v)) = extra {
            l.push((k.to_string(), v));
        }
        l.extend(labels.iter().cloned());
        l.sort_by(|a, b| a.0.cmp(&b.0));
        l.dedup_by(|a, b| a.0 == b.0);
        self.0.entry(l).or_default().push((value, ts));
    }
}

/// Prometheus's staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Now, in milliseconds since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The label form of a bound: `0.5`, `10`, `+Inf`.
fn le(bound: f64) -> String {
    if bound.is_infinite() {
        "+Inf".into()
    } else {
        format!("{bound}")
    }
}

/// Converts one `ExportMetricsServiceRequest` (as OTLP/JSON).
pub(crate) fn convert(req: &Value, with_unit: bool) -> Converted {
    let mut out = Out::default();
    let mut conv = Converted::default();
    let empty = Vec::new();
    for rm in req["resourceMetrics"].as_array().unwrap_or(&empty) {
        let resource = attributes(&rm["resource"]["attributes"]);
        let get = |k: &str| {
            resource
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let mut base: Vec<(String, String)> = Vec::new();
        if let Some(service) = get("service.name") {
            let job = match get("service.namespace") {
                Some(ns) => format!("{ns}/{service}"),
                None => service,
            };
            base.push(("job".into(), job));
        }
        if let Some(instance) = get("service.instance.id") {
            base.push(("instance".into(), instance));
        }
        let mut latest = None;
        for sm in rm["scopeMetrics"].as_array().unwrap_or(&empty) {
            for m in sm["metrics"].as_array().unwrap_or(&empty) {
                let name = m["name"].as_str().unwrap_or("");
                let unit = m["unit"].as_str().unwrap_or("");
                let mut seen = |ts: i64| latest = Some(latest.map_or(ts, |l: i64| l.max(ts)));
                metric(
                    m, name, unit, with_unit, &base, &mut out, &mut conv, &mut seen,
                );
            }
        }
        // The other resource attributes, once per resource, as the specification's target_info.
        let info: Vec<(String, String)> = resource
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .map(|(k, v)| (sanitize(k, false), v.clone()))
            .chain(base.iter().cloned())
            .collect();
        if let Some(ts) = latest
            && info.len() > base.len()
        {
            out.push("target_info", &info, None, 1.0, ts);
        }
    }
    conv.series = out
        .0
        .into_iter()
        .map(|(labels, mut samples)| {
            samples.sort_by_key(|s| s.1);
            samples.dedup_by_key(|s| s.1);
            Series { labels, samples }
        })
        .collect();
    conv
}

/// One metric's points.
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces of one conversion step"
)]
fn metric(
    m: &Value,
    name: &str,
    unit: &str,
    with_unit: bool,
    base: &[(String, String)],
    out: &mut Out,
    conv: &mut Converted,
    seen: &mut impl FnMut(i64),
) {
    let empty = Vec::new();
    let points = |data: &Value| data["dataPoints"].as_array().unwrap_or(&empty).clone();
    let labels_of = |p: &Value| -> Vec<(String, String)> {
        // `job` and `instance` from the resource come first (they win on equal names); then
        // the attributes, where names that sanitize alike (`http.route`, `http_route`) get
        // their values joined with `;`, ordered by the original names.
        let mut attrs = attributes(&p["attributes"]);
        attrs.sort();
        let mut joined: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in attrs {
            joined
                .entry(sanitize(&k, false))
                .and_modify(|old| {
                    old.push(';');
                    old.push_str(&v);
                })
                .or_insert(v);
        }
        base.iter().cloned().chain(joined).collect()
    };
    // A point without a time gets the current one (Prometheus refuses time 0).
    let ts = |p: &Value| {
        num(&p["timeUnixNano"])
            .filter(|n| *n > 0.0)
            .map_or_else(now_ms, |n| (n / 1e6) as i64)
    };
    // A point flagged "no recorded value" is Prometheus's staleness marker.
    let value = |p: &Value| {
        if num(&p["flags"]).is_some_and(|f| f as u64 & 1 == 1) {
            return f64::from_bits(STALE_NAN);
        }
        num(&p["asDouble"])
            .or_else(|| num(&p["asInt"]))
            .unwrap_or(0.0)
    };
    let delta = |data: &Value| num(&data["aggregationTemporality"]) == Some(1.0);
    let mut reject = |n: usize, why: String| {
        conv.rejected += n as u64;
        conv.why.push(why);
    };
    if let Some(g) = m.get("gauge") {
        let n = metric_name(name, unit, true, false, with_unit);
        for p in points(g) {
            let v = value(&p);
            seen(ts(&p));
            out.push(&n, &labels_of(&p), None, v, ts(&p));
        }
    } else if let Some(s) = m.get("sum") {
        if delta(s) {
            return reject(
                points(s).len(),
                format!("{name}: delta sums have no Prometheus form"),
            );
        }
        let monotonic = s["isMonotonic"].as_bool().unwrap_or(false);
        let n = metric_name(name, unit, !monotonic, monotonic, with_unit);
        for p in points(s) {
            let v = value(&p);
            seen(ts(&p));
            out.push(&n, &labels_of(&p), None, v, ts(&p));
        }
    } else if let Some(h) = m.get("histogram") {
        if delta(h) {
            return reject(
                points(h).len(),
                format!("{name}: delta histograms have no Prometheus form"),
            );
        }
        let n = metric_name(name, unit, false, false, with_unit);
        for p in points(h) {
            let (labels, t) = (labels_of(&p), ts(&p));
            seen(t);
            let counts: Vec<f64> = p["bucketCounts"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter_map(num)
                .collect();
            let bounds: Vec<f64> = p["explicitBounds"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter_map(num)
                .collect();
            let mut cumulative = 0.0;
            for (i, c) in counts.iter().enumerate() {
                cumulative += c;
                let bound = bounds.get(i).copied().unwrap_or(f64::INFINITY);
                out.push(
                    &format!("{n}_bucket"),
                    &labels,
                    Some(("le", le(bound))),
                    cumulative,
                    t,
                );
            }
            if counts.len() <= bounds.len() {
                // No overflow bucket given: +Inf is the total count.
                out.push(
                    &format!("{n}_bucket"),
                    &labels,
                    Some(("le", le(f64::INFINITY))),
                    num(&p["count"]).unwrap_or(cumulative),
                    t,
                );
            }
            out.push(
                &format!("{n}_count"),
                &labels,
                None,
                num(&p["count"]).unwrap_or(cumulative),
                t,
            );
            if let Some(sum) = num(&p["sum"]) {
                out.push(&format!("{n}_sum"), &labels, None, sum, t);
            }
        }
    } else if let Some(s) = m.get("summary") {
        let n = metric_name(name, unit, false, false, with_unit);
        for p in points(s) {
            let (labels, t) = (labels_of(&p), ts(&p));
            seen(t);
            for q in p["quantileValues"].as_array().unwrap_or(&empty) {
                let quantile = num(&q["quantile"]).unwrap_or(0.0);
                let value = num(&q["value"]).unwrap_or(0.0);
                out.push(
                    &n,
                    &labels,
                    Some(("quantile", format!("{quantile}"))),
                    value,
                    t,
                );
            }
            out.push(
                &format!("{n}_count"),
                &labels,
                None,
                num(&p["count"]).unwrap_or(0.0),
                t,
            );
            out.push(
                &format!("{n}_sum"),
                &labels,
                None,
                num(&p["sum"]).unwrap_or(0.0),
                t,
            );
        }
    } else if let Some(e) = m.get("exponentialHistogram") {
        reject(
            points(e).len(),
            format!(
                "{name}: exponential histograms are not written (no native histograms in remote write 1.0)"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_labels_join_and_cannot_replace_the_converters() {
        let req: Value = serde_json::from_str(r#"{"resourceMetrics":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"shop"}}]},
          "scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"5000000","asInt":"1",
            "attributes":[{"key":"http_route","value":{"stringValue":"b"}},{"key":"http.route","value":{"stringValue":"a"}},
              {"key":"job","value":{"stringValue":"mine"}},{"key":"__name__","value":{"stringValue":"x"}}]},
            {"timeUnixNano":"6000000","flags":1,"attributes":[]}]}}]}]}]}"#).unwrap();
        let c = convert(&req, true);
        let labelled = c
            .series
            .iter()
            .find(|s| s.labels.iter().any(|l| l.0 == "http_route"))
            .unwrap();
        assert!(
            labelled
                .labels
                .contains(&("http_route".into(), "a;b".into()))
        );
        assert!(labelled.labels.contains(&("job".into(), "shop".into())));
        assert!(labelled.labels.contains(&("__name__".into(), "g".into())));
        let stale = c.series.iter().find(|s| s.labels.len() == 2).unwrap();
        assert_eq!(stale.samples[0].0.to_bits(), STALE_NAN);
    }

    #[test]
    fn names_follow_the_compatibility_rules() {
        assert_eq!(
            metric_name("http.server.duration", "ms", false, false, true),
            "http_server_duration_milliseconds"
        );
        assert_eq!(
            metric_name("e2e.requests", "1", false, true, true),
            "e2e_requests_total"
        );
        assert_eq!(
            metric_name("cpu.utilization", "1", true, false, true),
            "cpu_utilization_ratio"
        );
        assert_eq!(
            metric_name("net.io", "By/s", true, false, true),
            "net_io_bytes_per_second"
        );
        assert_eq!(metric_name("queue", "{items}", true, false, true), "queue");
        assert_eq!(
            metric_name("size_bytes", "By", true, false, true),
            "size_bytes"
        );
        assert_eq!(metric_name("9lives", "", true, false, true), "_9lives");
        assert_eq!(sanitize("http.route", false), "http_route");
        assert_eq!(sanitize("a..b", false), "a_b");
    }

    #[test]
    fn a_cumulative_histogram_and_its_resource() {
        let req: Value = serde_json::from_str(r#"{"resourceMetrics":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"shop"}},
            {"key":"host.name","value":{"stringValue":"h1"}}]},
          "scopeMetrics":[{"metrics":[
            {"name":"lat","unit":"s","histogram":{"aggregationTemporality":2,"dataPoints":[
              {"timeUnixNano":"2000000","count":"3","sum":1.5,"bucketCounts":["1","2","0"],"explicitBounds":[0.5,1],
               "attributes":[{"key":"route","value":{"stringValue":"/a"}}]}]}},
            {"name":"d","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"asInt":"1"}]}}]}]}]}"#).unwrap();
        let c = convert(&req, true);
        let find = |name: &str, le: Option<&str>| {
            c.series.iter().find(|s| {
                s.labels.contains(&("__name__".into(), name.into()))
                    && le.is_none_or(|l| s.labels.contains(&("le".into(), l.into())))
            })
        };
        assert_eq!(
            find("lat_seconds_bucket", Some("0.5")).unwrap().samples,
            vec![(1.0, 2)]
        );
        assert_eq!(
            find("lat_seconds_bucket", Some("1")).unwrap().samples,
            vec![(3.0, 2)]
        );
        assert_eq!(
            find("lat_seconds_bucket", Some("+Inf")).unwrap().samples,
            vec![(3.0, 2)]
        );
        assert_eq!(
            find("lat_seconds_count", None).unwrap().samples,
            vec![(3.0, 2)]
        );
        assert_eq!(
            find("lat_seconds_sum", None).unwrap().samples,
            vec![(1.5, 2)]
        );
        let info = find("target_info", None).unwrap();
        assert!(info.labels.contains(&("host_name".into(), "h1".into())));
        assert!(info.labels.contains(&("job".into(), "shop".into())));
        assert!(
            find("lat_seconds_count", None)
                .unwrap()
                .labels
                .contains(&("route".into(), "/a".into()))
        );
        assert_eq!(c.rejected, 1, "the delta sum");
        // Labels are sorted, as remote write requires.
        for s in &c.series {
            let mut sorted = s.labels.clone();
            sorted.sort();
            assert_eq!(s.labels, sorted);
        }
    }
}
