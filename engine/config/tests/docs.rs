//! `docs/configuration.md` held to the config types: every key a table takes is documented under
//! its heading, no documented key is one the type refuses, the exporter "applies to" column says
//! what the checks enforce, and the `{ … }` forms the docs show for nested tables name real keys.
//! A key added to a type without its docs, or renamed in one place only, fails here.

use std::collections::BTreeSet;

use weir_config::schema::{EXPORTER_KEYS, keys};
use weir_config::*;

/// One `| key | … |` row of a table in the docs.
struct Row {
    /// The backticked names in the first cell (``| `a` / `b` |`` documents two keys).
    keys: Vec<String>,
    /// The other cells.
    cells: Vec<String>,
}

/// A `##`/`###` section of the docs and its tables, in order.
struct Section {
    heading: String,
    tables: Vec<Vec<Row>>,
}

fn sections() -> Vec<Section> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let text = std::fs::read_to_string(path).expect("docs/configuration.md is readable");
    let mut out: Vec<Section> = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with('#') {
            out.push(Section {
                heading: line.trim_start_matches('#').trim().to_string(),
                tables: Vec::new(),
            });
            in_table = false;
            continue;
        }
        let Some(section) = out.last_mut() else {
            continue;
        };
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table {
            section.tables.push(Vec::new());
            in_table = true;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_string())
            .collect();
        let Some(first) = cells.first() else { continue };
        let keys = backticked(first);
        if keys.is_empty() {
            continue; // the header and separator rows
        }
        if let Some(table) = section.tables.last_mut() {
            table.push(Row {
                keys,
                cells: cells[1..].to_vec(),
            });
        }
    }
    out
}

/// The names written `` `like_this` `` or `` `like_this = value` `` in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|w| w.split(" = ").next().unwrap_or(w))
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_string)
        .collect()
}

/// The keys of every top-level `{ a, b = 1, c = { … } }` group in `text`.
fn brace_keys(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut current = String::new();
    let mut in_value = false;
    for ch in text.chars() {
        match ch {
            '"' if depth > 0 => in_string = !in_string,
            _ if in_string => {}
            '{' => {
                depth += 1;
                if depth == 1 {
                    current.clear();
                    in_value = false;
                }
            }
            '}' | ',' if depth == 1 => {
                let key = current.trim();
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    found.insert(key.to_string());
                }
                current.clear();
                in_value = false;
                if ch == '}' {
                    depth -= 1;
                }
            }
            '}' => depth = depth.saturating_sub(1),
            '=' if depth == 1 => in_value = true,
            _ if depth == 1 && !in_value => current.push(ch),
            _ => {}
        }
    }
    found
}

fn section<'a>(all: &'a [Section], heading: &str) -> &'a Section {
    all.iter()
        .find(|s| s.heading == heading)
        .unwrap_or_else(|| panic!("docs/configuration.md has no `{heading}` section"))
}

fn documented(tables: &[&Vec<Row>]) -> BTreeSet<String> {
    tables
        .iter()
        .flat_map(|t| t.iter().flat_map(|r| r.keys.iter().cloned()))
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// The documented keys of a section equal the type's keys, less those described in prose.
fn assert_same(heading: &str, docs: BTreeSet<String>, mut typed: BTreeSet<String>, prose: &[&str]) {
    for k in prose {
        typed.remove(*k);
    }
    let missing: Vec<_> = typed.difference(&docs).collect();
    let unknown: Vec<_> = docs.difference(&typed).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/configuration.md {heading}: keys the type takes but the docs leave out: \
         {missing:?}; keys the docs list but the type refuses: {unknown:?}"
    );
}

#[test]
fn every_table_documents_exactly_the_keys_its_type_takes() {
    let all = sections();
    let whole = |heading: &str| -> BTreeSet<String> {
        documented(&section(&all, heading).tables.iter().collect::<Vec<_>>())
    };
    let cases: [(&str, &[&str], &[&str]); 6] = [
        (
            "`[admin]`",
            keys::<AdminConfig>(),
            &["connections", "jaeger_sampling"],
        ),
        (
            "`[admin.jaeger_sampling]`",
            keys::<JaegerSamplingConfig>(),
            &[],
        ),
        ("`[service]`", keys::<ServiceConfig>(), &[]),
        ("`[processors.<name>]`", keys::<ProcessorConfig>(), &[]),
        ("`[samplers.<name>]`", keys::<SamplerConfig>(), &[]),
        (
            "`[pipelines.<signal>]` and `[pipelines.<signal>.<name>]`",
            keys::<PipelineSpec>(),
            &[],
        ),
    ];
    for (heading, typed, prose) in cases {
        assert_same(heading, whole(heading), set(typed), prose);
    }

    // Receivers: the listener tables, the connection hygiene table, the secure edge table.
    let receivers = section(&all, "`[receivers.<name>]`");
    assert_eq!(
        receivers.tables.len(),
        3,
        "receivers: three tables expected"
    );
    let edge = [&receivers.tables[0], &receivers.tables[2]];
    assert_same(
        "`[receivers.<name>]`",
        documented(&edge),
        set(keys::<ReceiverConfig>()),
        &["type"],
    );
    assert_same(
        "`[receivers.<name>]` connections",
        documented(&[&receivers.tables[1]]),
        set(keys::<ConnectionConfig>()),
        &[],
    );

    let exporters = "`[exporters.<name>]`";
    assert_same(
        exporters,
        whole(exporters),
        set(keys::<ExporterTable>()),
        &[],
    );
}

#[test]
fn the_exporter_applies_to_column_says_what_the_checks_enforce() {
    let all = sections();
    let table = &section(&all, "`[exporters.<name>]`").tables[0];
    for row in table {
        let key = &row.keys[0];
        let applies = row.cells.first().map(String::as_str).unwrap_or_default();
        let mut documented: BTreeSet<&str> = BTreeSet::new();
        for part in applies.split(',').map(str::trim) {
            match part {
                "all" => documented.extend(ExporterKind::ALL.iter().map(|k| k.as_str())),
                "otlp-*" => documented.extend(["otlp-grpc", "otlp-http"]),
                other => {
                    documented.insert(other);
                }
            }
        }
        let enforced: BTreeSet<&str> = EXPORTER_KEYS
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, kinds)| kinds.iter().map(|k| k.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            documented, enforced,
            "docs/configuration.md exporters `{key}`: \"applies to\" is `{applies}`"
        );
    }
}

/// Nested tables whose keys a row spells out in `{ … }` or backticks: every key the type takes
/// (less those described elsewhere) is named in the row, and every `{ … }` key is a real one.
#[test]
fn nested_tables_shown_in_a_row_name_their_real_keys() {
    let all = sections();
    let cases: [(&str, &str, &[&str], &[&str]); 13] = [
        ("`[admin]`", "tls", keys::<ServerTlsConfig>(), &[]),
        (
            "`[receivers.<name>]`",
            "grpc",
            keys::<GrpcServerConfig>(),
            &["connections"],
        ),
        (
            "`[receivers.<name>]`",
            "http",
            keys::<HttpServerConfig>(),
            &["connections"],
        ),
        (
            "`[receivers.<name>]`",
            "tls",
            keys::<ServerTlsConfig>(),
            &[],
        ),
        ("`[receivers.<name>]`", "auth", keys::<AuthConfig>(), &[]),
        (
            "`[processors.<name>]`",
            "grants",
            keys::<GrantsConfig>(),
            &[],
        ),
        (
            "`[processors.<name>]`",
            "self_test",
            keys::<SelfTestConfig>(),
            &[],
        ),
        (
            "`[samplers.<name>]`",
            "decision_cache",
            keys::<DecisionCacheConfig>(),
            &[],
        ),
        (
            "`[samplers.<name>]`",
            "policies",
            keys::<PolicyConfig>(),
            &[],
        ),
        (
            "`[exporters.<name>]`",
            "tls",
            keys::<ClientTlsConfig>(),
            &[],
        ),
        (
            "`[exporters.<name>]`",
            "retry_on_failure",
            keys::<RetryConfig>(),
            &[],
        ),
        (
            "`[exporters.<name>]`",
            "sending_queue",
            keys::<QueueConfig>(),
            &[],
        ),
        (
            "`[pipelines.<signal>]` and `[pipelines.<signal>.<name>]`",
            "batch",
            keys::<BatchConfig>(),
            &[],
        ),
    ];
    for (heading, key, typed, elsewhere) in cases {
        assert!(!typed.is_empty(), "{heading} `{key}`: its type has no keys");
        let row = section(&all, heading)
            .tables
            .iter()
            .flatten()
            .find(|r| r.keys.first().map(String::as_str) == Some(key))
            .unwrap_or_else(|| panic!("{heading}: no row for `{key}`"));
        let text = row.cells.join(" | ");
        let braces = brace_keys(&text);
        let mut named: BTreeSet<String> = backticked(&text).into_iter().collect();
        named.extend(braces.iter().cloned());
        let typed = set(typed);
        let unnamed: Vec<_> = typed
            .iter()
            .filter(|k| !named.contains(*k) && !elsewhere.contains(&k.as_str()))
            .collect();
        let unknown: Vec<_> = braces.difference(&typed).collect();
        assert!(
            unnamed.is_empty() && unknown.is_empty(),
            "docs/configuration.md {heading} `{key}`: keys the row leaves out: {unnamed:?}; \
             keys in its {{ … }} that the type refuses: {unknown:?}"
        );
    }
}

#[test]
fn the_brace_reader_reads_keys_not_values() {
    let keys = brace_keys(r#"a `{ x, y_z = "a, b", w = { q = 1 } }` then { v = 2 }"#);
    assert_eq!(keys, set(&["v", "w", "x", "y_z"]));
}
