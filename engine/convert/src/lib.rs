//! `weir convert otelcol.yaml > weir.toml`: an OpenTelemetry Collector config into a Weir
//! config. Every component a pipeline uses is converted where Weir has an equivalent
//! (receivers, processors, tail sampling, exporters, pipelines with `type/name` ids); what does
//! not map is kept in the output as a comment saying why and listed in
//! [`Conversion::unmapped`], so the command can exit non-zero. The output always parses as a
//! Weir config: an exporter with no Weir equivalent becomes a `debug` stand-in, marked.

mod exporters;
mod filter;
mod out;
mod processors;
mod receivers;
mod sampling;
mod yaml;

use std::collections::BTreeMap;

use toml::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::out::{Item, Table, key};

/// The result of a conversion.
#[derive(Debug)]
pub struct Conversion {
    /// The Weir config, with comments.
    pub toml: String,
    /// Every setting that was not converted, in file order of the sections.
    pub unmapped: Vec<Unmapped>,
}

/// One setting of the Collector config that Weir's output does not carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    /// Where it was: `processors.transform`, `exporters.otlp/backend.auth`.
    pub path: String,
    /// Why, and what to do instead.
    pub why: String,
}

impl std::fmt::Display for Unmapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.why)
    }
}

/// Why a file could not be converted at all.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Not YAML.
    #[error("{file}:{line}:{column}: not valid YAML: {message}")]
    Yaml {
        /// The file name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// YAML, but not a Collector config.
    #[error("{file}: {message}")]
    Shape {
        /// The file name as given.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// What one Collector component became.
#[derive(Debug, Clone)]
pub(crate) enum Became {
    /// Weir components of these names (a receiver may become two).
    Components(Vec<String>),
    /// The pipeline's `batch` settings (the batch processor).
    Batch(Value),
    /// Settings of `[service]` (the memory limiter).
    Service,
    /// Nothing: not converted (recorded in `unmapped`).
    Nothing,
}

/// The conversion's state: the output sections and what was lost.
#[derive(Default)]
pub(crate) struct Cx {
    pub service: Vec<(String, Value, Vec<String>)>,
    pub admin: Vec<(String, Value, Vec<String>)>,
    pub receivers: Vec<Item>,
    pub processors: Vec<Item>,
    pub samplers: Vec<Item>,
    pub exporters: Vec<Item>,
    pub unmapped: Vec<Unmapped>,
}

impl Cx {
    /// Records that `path` was not converted, and returns the comment line saying so.
    pub fn lost(&mut self, path: &str, why: impl Into<String>) -> String {
        let why = why.into();
        let line = format!("NOT CONVERTED {path}: {why}");
        self.unmapped.push(Unmapped {
            path: path.to_string(),
            why,
        });
        line
    }

    /// A comment block keeping `node` (the component as written) after a reason line.
    pub fn kept(&mut self, section: Section, reason: String, id: &str, node: &Yaml) {
        let mut lines = vec![reason];
        lines.extend(yaml::quote(id, node));
        self.section(section).push(Item::Comment(lines));
    }

    /// The output list of `section`.
    pub fn section(&mut self, section: Section) -> &mut Vec<Item> {
        match section {
            Section::Receivers => &mut self.receivers,
            Section::Processors => &mut self.processors,
            Section::Samplers => &mut self.samplers,
        }
    }
}

/// An output section of components.
#[derive(Clone, Copy)]
pub(crate) enum Section {
    Receivers,
    Processors,
    Samplers,
}

/// `section.id` as a TOML header.
pub(crate) fn header(section: &str, id: &str) -> String {
    format!("{section}.{}", key(id))
}

/// Converts the Collector config `text` (`file` names it in errors and in the output's
/// heading).
pub fn convert(file: &str, text: &str) -> Result<Conversion, ConvertError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| ConvertError::Yaml {
        file: file.to_string(),
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    let shape = |message: &str| ConvertError::Shape {
        file: file.to_string(),
        message: message.to_string(),
    };
    let root = docs.first().ok_or_else(|| shape("empty file"))?;
    if !matches!(root, Yaml::Hash(_)) {
        return Err(shape(
            "expected a mapping with receivers, processors, exporters and service",
        ));
    }
    let pipelines = yaml::get(root, "service")
        .and_then(|s| yaml::get(s, "pipelines"))
        .filter(|p| !yaml::keys(p).is_empty())
        .ok_or_else(|| {
            shape("no service.pipelines (a mapping of pipeline ids): nothing to convert")
        })?;

    let mut cx = Cx::default();
    let mut done: BTreeMap<(&'static str, String), Became> = BTreeMap::new();
    let mut tables: Vec<Table> = Vec::new();
    let mut skipped_pipelines = Vec::new();
    for id in yaml::keys(pipelines) {
        let Some(p) = yaml::get(pipelines, &id) else {
            let line = cx.lost(&format!("service.pipelines.{id}"), "an empty pipeline");
            skipped_pipelines.push(line);
            continue;
        };
        let (signal, name) = match id.split_once('/') {
            Some((s, n)) => (s, Some(n)),
            None => (id.as_str(), None),
        };
        if !matches!(signal, "traces" | "metrics" | "logs") {
            let line = cx.lost(
                &format!("service.pipelines.{id}"),
                format!("Weir has traces, metrics and logs pipelines, not `{signal}`"),
            );
            skipped_pipelines.push(line);
            continue;
        }
        let mut t = Table::new(match name {
            Some(n) => format!("pipelines.{signal}.{}", key(n)),
            None => format!("pipelines.{signal}"),
        });
        let mut list = |section: &'static str, cx: &mut Cx, t: &mut Table| -> Vec<String> {
            let mut names = Vec::new();
            for c in yaml::strings(p, section) {
                let became = done
                    .entry((section, c.clone()))
                    .or_insert_with(|| component(cx, root, section, &c))
                    .clone();
                match became {
                    Became::Components(n) => {
                        for n in n {
                            if !names.contains(&n) {
                                names.push(n);
                            }
                        }
                    }
                    Became::Batch(_) if t.keys.iter().any(|k| k.0 == "batch") => {
                        cx.lost(
                            &format!("service.pipelines.{id}.processors"),
                            format!("`{c}`: a Weir pipeline batches once; the first batch processor's settings are kept"),
                        );
                    }
                    Became::Batch(b) => {
                        t.set_noted("batch", b, format!("from the batch processor `{c}`"));
                    }
                    Became::Service | Became::Nothing => {}
                }
            }
            names
        };
        let receivers = list("receivers", &mut cx, &mut t);
        let processors = list("processors", &mut cx, &mut t);
        let exporters = list("exporters", &mut cx, &mut t);
        let strs = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
        t.keys
            .insert(0, ("receivers".into(), strs(receivers), Vec::new()));
        if !processors.is_empty() {
            t.keys
                .insert(1, ("processors".into(), strs(processors), Vec::new()));
        }
        let at = t
            .keys
            .iter()
            .position(|k| k.0 == "batch")
            .unwrap_or(t.keys.len());
        t.keys
            .insert(at, ("exporters".into(), strs(exporters), Vec::new()));
        tables.push(t);
    }
    // The Collector ignores components no pipeline lists; Weir refuses them, so they stay out.
    let mut unused = Vec::new();
    for section in ["receivers", "processors", "exporters"] {
        for id in yaml::get(root, section).map(yaml::keys).unwrap_or_default() {
            if !done.contains_key(&(section, id.clone())) {
                unused.push(format!("{section}.{id}: left out, no pipeline uses it"));
            }
        }
    }
    if !unused.is_empty() {
        cx.receivers.push(Item::Comment(unused));
    }
    for (section, what) in [("extensions", "extension"), ("connectors", "connector")] {
        if let Some(node) = yaml::get(root, section) {
            for id in yaml::keys(node) {
                extension_or_connector(&mut cx, section, what, &id);
            }
        }
    }
    if let Some(telemetry) = yaml::get(root, "service").and_then(|s| yaml::get(s, "telemetry")) {
        receivers::telemetry(&mut cx, telemetry);
    }

    let mut items = vec![Item::Comment(vec![
        format!("Converted by `weir convert` from {file}."),
        "Lines starting with NOT CONVERTED are settings Weir does not carry out (the command"
            .into(),
        "lists them and exits 3). Check `weir validate --config <this file>`.".into(),
    ])];
    if !cx.unmapped.is_empty() {
        let mut lines = vec!["NOT CONVERTED (what Weir does not carry out, and why):".to_string()];
        lines.extend(cx.unmapped.iter().map(|u| format!("  {u}")));
        items.push(Item::Comment(lines));
    }
    if !cx.admin.is_empty() {
        let mut t = Table::new("admin".into());
        t.keys = std::mem::take(&mut cx.admin);
        items.push(Item::Table(t));
    }
    if !cx.service.is_empty() {
        let mut t = Table::new("service".into());
        t.keys = std::mem::take(&mut cx.service);
        items.push(Item::Table(t));
    }
    items.append(&mut cx.receivers);
    items.append(&mut cx.processors);
    items.append(&mut cx.samplers);
    items.append(&mut cx.exporters);
    if !skipped_pipelines.is_empty() {
        items.push(Item::Comment(skipped_pipelines));
    }
    items.extend(tables.into_iter().map(Item::Table));
    Ok(Conversion {
        toml: out::render(&items),
        unmapped: cx.unmapped,
    })
}

/// Converts the component `id` of `section` (first use; later uses reuse the result).
fn component(cx: &mut Cx, root: &Yaml, section: &str, id: &str) -> Became {
    let table = yaml::get(root, section);
    let defined = table.is_some_and(|t| yaml::has(t, id));
    let node = table
        .and_then(|t| yaml::get(t, id))
        .cloned()
        .unwrap_or(Yaml::Null);
    if !defined {
        cx.lost(
            &format!("service.pipelines.*.{section}"),
            format!("`{id}` is not defined in `{section}`"),
        );
        return Became::Nothing;
    }
    let kind = id.split_once('/').map_or(id, |(k, _)| k);
    match section {
        "receivers" => receivers::convert(cx, id, kind, &node),
        "processors" => processors::convert(cx, id, kind, &node),
        _ => exporters::convert(cx, id, kind, &node),
    }
}

/// Notes an extension or connector: Weir has neither; some have a Weir place.
fn extension_or_connector(cx: &mut Cx, section: &str, what: &str, id: &str) {
    let kind = id.split_once('/').map_or(id, |(k, _)| k);
    let path = format!("{section}.{id}");
    let line = match kind {
        "health_check" => cx.lost(
            &path,
            "Weir serves /healthz and /readyz on its admin listener ([admin] listen, \
             127.0.0.1:8888 by default): point probes there",
        ),
        "basicauth" | "bearertokenauth" | "oidc" => cx.lost(
            &path,
            "authentication is the receiver's `auth` table in Weir (bearer tokens or basic \
             auth); see docs/security.md",
        ),
        "file_storage" => cx.lost(
            &path,
            "persistent queues are the exporter's `sending_queue = { storage = \"disk\", dir = \
             \"...\" }` in Weir",
        ),
        _ => cx.lost(&path, format!("Weir has no {what}s")),
    };
    cx.receivers.push(Item::Comment(vec![line]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(yaml: &str) -> Vec<String> {
        convert("t.yaml", yaml)
            .expect("converts")
            .unmapped
            .into_iter()
            .map(|u| u.path)
            .collect()
    }

    #[test]
    fn odd_shapes_are_refused_or_listed_never_dropped() {
        assert!(convert("t.yaml", "service:\n  pipelines: [traces]\n").is_err());
        assert!(convert("t.yaml", "service:\n  pipelines: {}\n").is_err());
        let two_batches = "receivers: {otlp: {protocols: {grpc: }}}\nprocessors: {batch: , batch/2: {send_batch_size: 10}}\nexporters: {debug: }\nservice:\n  pipelines:\n    traces: {receivers: [otlp], processors: [batch, batch/2], exporters: [debug]}\n    logs:\n";
        let out = convert("t.yaml", two_batches).expect("converts");
        let doc: toml::Table = out.toml.parse().expect("one batch key per pipeline");
        assert_eq!(
            doc["pipelines"]["traces"]["batch"]["send_batch_size"].as_integer(),
            Some(8192)
        );
        assert_eq!(
            paths(two_batches),
            [
                "service.pipelines.traces.processors",
                "service.pipelines.logs"
            ]
        );
    }

    #[test]
    fn an_and_policy_missing_a_condition_is_left_out_whole() {
        let yaml = "receivers: {otlp: {protocols: {grpc: }}}\nprocessors:\n  tail_sampling:\n    policies:\n      - {name: ok, type: always_sample}\n      - name: both\n        type: and\n        and:\n          and_sub_policy:\n            - {name: slow, type: latency, latency: {threshold_ms: 5}}\n            - {name: odd, type: ottl_condition, ottl_condition: {span: ['IsRootSpan()']}}\nexporters: {debug: }\nservice: {pipelines: {traces: {receivers: [otlp], processors: [tail_sampling], exporters: [debug]}}}\n";
        let out = convert("t.yaml", yaml).expect("converts");
        let doc: toml::Table = out.toml.parse().expect("toml");
        let policies = doc["samplers"]["tail_sampling"]["policies"]
            .as_array()
            .expect("policies");
        // Only `ok`: an `and` of `slow` alone would keep traces the Collector's would not.
        assert_eq!(policies.len(), 1, "{}", out.toml);
        assert!(
            out.unmapped.iter().any(|u| u.why.contains("policy `both`")),
            "{:?}",
            out.unmapped
        );
    }
}
