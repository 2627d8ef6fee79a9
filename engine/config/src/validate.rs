//! Cross-table checks: references resolve, nothing is unused, each exporter has the keys its type
//! needs and no others. No I/O happens here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use toml::Spanned;
use weir_core::Signal;

use crate::error::{Diagnostic, Source};
use crate::pipelines::PipelineSpec;
use crate::raw::Broken;
use crate::{Config, Pipeline, RawConfig};

/// Largest queue, in batches or requests: queues preallocate their slots.
pub(crate) const MAX_QUEUE: usize = 1_000_000;

/// Collects diagnostics so that one run reports every problem.
pub(crate) struct Checker<'a, 'b> {
    src: &'a Source<'b>,
    diags: Vec<Diagnostic>,
}

impl Checker<'_, '_> {
    pub(crate) fn err(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
    ) {
        self.diags.push(self.src.at(span, key, msg));
    }
}

/// Checks `raw` (what read of the file); `broken` names the entries that did not read and
/// `read_errors` says why, so that one run reports every independent problem. Returns the
/// config made of what is valid and every problem found (the config is only usable whole
/// when there is none).
pub(crate) fn validate(
    src: &Source<'_>,
    raw: RawConfig,
    broken: &Broken,
    read_errors: Vec<Diagnostic>,
) -> (Config, Vec<Diagnostic>) {
    let mut c = Checker {
        src,
        diags: read_errors,
    };

    check_receivers(&mut c, &raw);
    if let Some(limit) = &raw.service.memory_limit
        && limit.get_ref().0 < 32 << 20
    {
        c.err(
            limit.span(),
            "service.memory_limit",
            "must be at least 32MiB",
        );
    }
    match (&raw.service.memory_limit, &raw.service.memory_spike) {
        (None, Some(spike)) => c.err(
            spike.span(),
            "service.memory_spike",
            "only applies with memory_limit",
        ),
        (Some(limit), Some(spike)) if spike.get_ref().0 >= limit.get_ref().0 => c.err(
            spike.span(),
            "service.memory_spike",
            "must be less than memory_limit",
        ),
        _ => {}
    }
    for (name, exp) in &raw.exporters {
        crate::exporters::check_exporter(&mut c, name.get_ref(), exp);
    }
    crate::exporters::check_queue_dirs_apart(&mut c, &raw.exporters);

    let receivers: BTreeMap<&str, Range<usize>> = raw
        .receivers
        .keys()
        .map(|k| (k.get_ref().as_str(), k.span()))
        .collect();
    let processors: BTreeMap<&str, Range<usize>> = raw
        .processors
        .keys()
        .chain(raw.samplers.keys())
        .map(|k| (k.get_ref().as_str(), k.span()))
        .collect();
    for (name, sampler) in &raw.samplers {
        let n = name.get_ref();
        if raw.processors.keys().any(|p| p.get_ref() == n) {
            c.err(
                name.span(),
                format!("samplers.{n}"),
                format!("`{n}` is also a processor's name; pipelines list both in `processors`, so names must differ"),
            );
        }
        for (span, key, msg) in crate::samplers::check(&format!("samplers.{n}"), sampler.get_ref())
        {
            let span = if span.is_empty() {
                sampler.span()
            } else {
                span
            };
            c.err(span, key, msg);
        }
    }
    let exporters: BTreeMap<&str, Range<usize>> = raw
        .exporters
        .keys()
        .map(|k| (k.get_ref().as_str(), k.span()))
        .collect();

    let mut pipelines = Vec::new();
    let mut used: BTreeSet<(&'static str, String)> = BTreeSet::new();
    for (key, group) in &raw.pipelines {
        let (signal_name, prefix_name) = match key.get_ref().split_once('/') {
            Some((s, n)) => (s, Some(n)),
            None => (key.get_ref().as_str(), None),
        };
        let Some(signal) = Signal::parse(signal_name) else {
            c.err(
                key.span(),
                format!("pipelines.{}", key.get_ref()),
                format!(
                    "unknown signal `{signal_name}`: pipelines are `traces`, `metrics` or `logs` \
                     (named ones as [pipelines.traces.<name>])"
                ),
            );
            continue;
        };
        let group_ref = group.get_ref();
        let mut specs: Vec<(String, Range<usize>, &PipelineSpec)> = Vec::new();
        if let Some(base) = &group_ref.base {
            specs.push((key.get_ref().clone(), group.span(), base));
        } else if group_ref.named.is_empty() {
            c.err(
                group.span(),
                format!("pipelines.{}", key.get_ref()),
                "empty pipeline: list its receivers and exporters",
            );
        }
        for (name, spec) in &group_ref.named {
            if prefix_name.is_some() {
                c.err(
                    spec.span(),
                    format!("pipelines.{}.{name}", key.get_ref()),
                    "a named pipeline cannot contain further named pipelines",
                );
                continue;
            }
            specs.push((format!("{signal_name}/{name}"), spec.span(), spec.get_ref()));
        }
        for (id, span, spec) in specs {
            let path = format!("pipelines.{}", id.replace('/', "."));
            let mut resolve = |kind: &'static str,
                               list: &[Spanned<String>],
                               known: &BTreeMap<&str, Range<usize>>,
                               required: bool|
             -> Vec<String> {
                if required && list.is_empty() {
                    c.err(
                        span.clone(),
                        format!("{path}.{kind}"),
                        format!("a pipeline needs at least one of its {kind}"),
                    );
                }
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                for item in list {
                    let n = item.get_ref();
                    if !seen.insert(n.as_str()) {
                        c.err(
                            item.span(),
                            format!("{path}.{kind}"),
                            format!("`{n}` is listed twice"),
                        );
                    } else if broken.has(kind, n) {
                        // Defined, but its table did not read: that error is reported.
                    } else if !known.contains_key(n.as_str()) {
                        c.err(
                            item.span(),
                            format!("{path}.{kind}"),
                            undefined(kind, n, known),
                        );
                    } else {
                        used.insert((kind, n.clone()));
                        out.push(n.clone());
                    }
                }
                out
            };
            let r = resolve("receivers", &spec.receivers, &receivers, true);
            let p = resolve("processors", &spec.processors, &processors, false);
            let e = resolve("exporters", &spec.exporters, &exporters, true);
            let samplers: Vec<&Spanned<String>> = spec
                .processors
                .iter()
                .filter(|n| raw.samplers.keys().any(|s| s.get_ref() == n.get_ref()))
                .collect();
            if let Some(first) = samplers.first()
                && signal != Signal::Traces
            {
                c.err(
                    first.span(),
                    format!("{path}.processors"),
                    format!(
                        "`{}` is a tail sampler; only traces pipelines can use one",
                        first.get_ref()
                    ),
                );
            }
            if !(1..=MAX_QUEUE).contains(&spec.queue_size) {
                c.err(
                    span.clone(),
                    format!("{path}.queue_size"),
                    format!("must be between 1 and {MAX_QUEUE}"),
                );
            }
            if spec.batch.send_batch_size > 0 && spec.batch.timeout.0.is_zero() {
                c.err(
                    span.clone(),
                    format!("{path}.batch.timeout"),
                    "must be greater than zero when send_batch_size is set",
                );
            }
            pipelines.push(Pipeline {
                id,
                signal,
                receivers: r,
                processors: p,
                exporters: e,
                batch: spec.batch.clone(),
                queue_size: spec.queue_size,
                ack: spec.ack,
            });
        }
    }

    let unused_checks = if broken.pipelines {
        // A pipeline that did not read may be the one using them.
        Vec::new()
    } else {
        vec![
            ("receivers", &receivers),
            ("processors", &processors),
            ("exporters", &exporters),
        ]
    };
    // Kept apart until the partial config is made: being unused is no flaw of the component
    // itself, so it stays in the partial config and `weir validate` checks its plugin too.
    let mut unused = Vec::new();
    for (kind, known) in unused_checks {
        for (name, span) in known {
            if !used.contains(&(kind, name.to_string())) {
                let is_sampler = raw.samplers.keys().any(|s| s.get_ref() == name);
                let section = if is_sampler { "samplers" } else { kind };
                unused.push(src.at(
                    span.clone(),
                    format!("{section}.{name}"),
                    format!("`{name}` is defined but no pipeline uses it"),
                ));
            }
        }
    }
    if raw.pipelines.is_empty() && !broken.pipelines {
        c.err(
            0..0,
            "pipelines",
            "no pipelines: add at least one [pipelines.<signal>] table",
        );
    }

    let mut exporters = BTreeMap::new();
    let clean = c.diags.is_empty();
    for (name, table) in raw.exporters {
        let span = table.span();
        let key = format!("exporters.{}", name.get_ref());
        match table.into_inner().typed() {
            Ok(e) => {
                exporters.insert(name.into_inner(), e);
            }
            // The checks above report a missing key first; this keeps it an error anyway.
            Err(missing) if clean => c.err(span, format!("{key}.{missing}"), "is required"),
            Err(_) => {}
        }
    }
    // The partial config leaves out components with problems, so that `weir validate` does not
    // report them twice (once here, once from their plugin).
    let diags = &c.diags;
    let config = Config {
        admin: raw.admin,
        service: raw.service,
        receivers: keep(diags, "receivers", inner(raw.receivers)),
        processors: keep(diags, "processors", inner(raw.processors)),
        samplers: keep(diags, "samplers", inner(raw.samplers)),
        exporters: keep(diags, "exporters", exporters),
        pipelines,
        source: Default::default(),
    };
    c.diags.append(&mut unused);
    c.diags.sort_by_key(|d| (d.line, d.column));
    (config, c.diags)
}

fn check_receivers(c: &mut Checker<'_, '_>, raw: &RawConfig) {
    let mut bound: HashMap<std::net::SocketAddr, String> = HashMap::new();
    let admin = raw.admin.listen.0;
    if admin.port() != 0 {
        bound.insert(admin, "admin.listen".to_string());
    }
    for (name, r) in &raw.receivers {
        let key = format!("receivers.{}", name.get_ref());
        let rc = r.get_ref();
        if rc.grpc.is_none() && rc.http.is_none() {
            c.err(
                r.span(),
                &key,
                "an OTLP receiver needs `grpc`, `http` or both",
            );
        }
        let addrs = [
            rc.grpc.as_ref().map(|g| ("grpc", g.endpoint.0)),
            rc.http.as_ref().map(|h| ("http", h.endpoint.0)),
        ];
        for (proto, addr) in addrs.into_iter().flatten() {
            if addr.port() == 0 {
                continue;
            }
            let this = format!("{key}.{proto}");
            if let Some(other) = bound.insert(addr, this.clone()) {
                c.err(
                    r.span(),
                    this,
                    format!("address {addr} is already used by {other}"),
                );
            }
        }
        let connections = [
            rc.grpc.as_ref().map(|g| ("grpc", &g.connections)),
            rc.http.as_ref().map(|h| ("http", &h.connections)),
        ];
        for (proto, conn) in connections.into_iter().flatten() {
            if let Some((field, why)) = conn.problem() {
                c.err(r.span(), format!("{key}.{proto}.connections.{field}"), why);
            }
        }
        if let Some(g) = &rc.grpc
            && g.max_recv_msg_size.0 == 0
        {
            c.err(
                r.span(),
                format!("{key}.grpc.max_recv_msg_size"),
                "must be greater than zero",
            );
        }
        if let Some(h) = &rc.http
            && h.max_request_body_size.0 == 0
        {
            c.err(
                r.span(),
                format!("{key}.http.max_request_body_size"),
                "must be greater than zero",
            );
        }
        crate::security::check_receiver(c, &key, r);
    }
    if let Some(t) = &raw.admin.tls {
        for (span, k, msg) in crate::security::check_server_tls("admin.tls", t) {
            c.err(span, k, msg);
        }
    }
    match &raw.admin.bearer_token {
        Some(t) if t.get_ref().trim().is_empty() => c.err(
            t.span(),
            "admin.bearer_token",
            "must not be empty (is the environment variable it names set?)",
        ),
        None if raw.admin.token_for_reads() => c.err(
            raw.admin
                .token_for_reads
                .as_ref()
                .map_or(0..0, Spanned::span),
            "admin.token_for_reads",
            "needs `bearer_token`: there is no token to require",
        ),
        _ => {}
    }
}

/// Why pipeline reference `name` in `kind` does not resolve, with where a Collector component
/// of that name lives in Weir.
fn undefined(kind: &str, name: &str, known: &BTreeMap<&str, Range<usize>>) -> String {
    let known_list = known.keys().copied().collect::<Vec<_>>().join(", ");
    let defined = if known_list.is_empty() {
        "none"
    } else {
        &known_list
    };
    match crate::collector::component_hint(kind, name) {
        Some(hint) => format!(
            "`{name}` is not defined (defined: {defined}); coming from the Collector? {hint}"
        ),
        None => {
            format!("`{name}` is not defined: add a [{kind}.{name}] table (defined: {defined})")
        }
    }
}

/// The entries of `section` that no diagnostic is about.
fn keep<T>(diags: &[Diagnostic], section: &str, m: BTreeMap<String, T>) -> BTreeMap<String, T> {
    m.into_iter()
        .filter(|(name, _)| {
            let key = format!("{section}.{name}");
            !diags
                .iter()
                .any(|d| d.key == key || d.key.starts_with(&format!("{key}.")))
        })
        .collect()
}

/// Drops the positions of a validated table.
fn inner<T>(m: BTreeMap<Spanned<String>, Spanned<T>>) -> BTreeMap<String, T> {
    m.into_iter()
        .map(|(k, v)| (k.into_inner(), v.into_inner()))
        .collect()
}
