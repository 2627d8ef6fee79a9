//! The checks of an `[exporters.<name>]` table: the keys its `type` takes, its endpoint URL and
//! TLS settings, its sending queue and retries, and a plugin exporter's sandbox settings.

use std::ops::Range;

use toml::Spanned;

use crate::exporter_config::{ExporterKind, ExporterTable};
use crate::validate::{Checker, MAX_QUEUE};

/// Most concurrent senders of one exporter.
const MAX_CONSUMERS: usize = 1_000;
/// Largest retry multiplier that still makes sense.
const MAX_MULTIPLIER: f64 = 100.0;

/// Two exporters cannot share a disk queue: its directory is locked by one owner, and each
/// exporter must send only what it queued.
pub(crate) fn check_queue_dirs_apart(
    c: &mut Checker<'_, '_>,
    exporters: &std::collections::BTreeMap<Spanned<String>, Spanned<ExporterTable>>,
) {
    let mut owners: std::collections::BTreeMap<std::path::PathBuf, &str> =
        std::collections::BTreeMap::new();
    for (name, exp) in exporters {
        let q = &exp.get_ref().sending_queue;
        let Some(dir) = q
            .dir
            .as_ref()
            .filter(|_| q.storage == crate::QueueStorage::Disk)
        else {
            continue;
        };
        // `q`, `q/` and `./q` name one directory: compare the path without `.` steps.
        let norm: std::path::PathBuf = std::path::Path::new(dir.get_ref().trim())
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if let Some(first) = owners.get(&norm) {
            c.err(
                dir.span(),
                format!("exporters.{}.sending_queue.dir", name.get_ref()),
                format!(
                    "{:?} is already the disk queue of exporter {first}: each disk queue needs a dir of its own",
                    dir.get_ref()
                ),
            );
        } else {
            owners.insert(norm, name.get_ref());
        }
    }
}

pub(crate) fn check_exporter(c: &mut Checker<'_, '_>, name: &str, exp: &Spanned<ExporterTable>) {
    let key = format!("exporters.{name}");
    let e = exp.get_ref();
    let kind = e.r#type;
    check_keys_apply(c, &key, exp);
    if kind.is_otlp() {
        match &e.endpoint {
            None => c.err(
                exp.span(),
                format!("{key}.endpoint"),
                format!("exporters of type {} need an `endpoint` URL", kind.as_str()),
            ),
            Some(ep) => {
                if let Err(msg) = check_url(ep.get_ref()) {
                    c.err(ep.span(), format!("{key}.endpoint"), msg);
                }
            }
        }
        check_exporter_tls(
            c,
            &key,
            e,
            e.endpoint.as_ref().map(|ep| ep.get_ref().as_str()),
        );
        check_sending(c, &key, e);
    } else if kind == ExporterKind::Plugin {
        check_plugin_exporter(c, &key, exp);
        check_exporter_tls(c, &key, e, None);
        check_sending(c, &key, e);
    } else if kind == ExporterKind::File {
        match &e.path {
            None => c.err(
                exp.span(),
                format!("{key}.path"),
                "exporters of type file need a `path`",
            ),
            Some(p) if p.get_ref().trim().is_empty() => {
                c.err(p.span(), format!("{key}.path"), "must not be empty")
            }
            Some(_) => {}
        }
    }
    match (e.sending_queue.storage, &e.sending_queue.dir) {
        (crate::QueueStorage::Disk, None) => c.err(
            exp.span(),
            format!("{key}.sending_queue.dir"),
            "storage = \"disk\" needs a dir for the queue's files",
        ),
        (crate::QueueStorage::Disk, Some(d)) if d.get_ref().trim().is_empty() => c.err(
            d.span(),
            format!("{key}.sending_queue.dir"),
            "must not be empty",
        ),
        (crate::QueueStorage::Memory, Some(d)) => c.err(
            d.span(),
            format!("{key}.sending_queue.dir"),
            "only a disk queue has a dir: add storage = \"disk\"",
        ),
        _ => {}
    }
    if e.sending_queue.storage == crate::QueueStorage::Disk
        && e.sending_queue.max_size.0 < (1 << 20)
    {
        c.err(
            exp.span(),
            format!("{key}.sending_queue.max_size"),
            "must be at least 1MiB",
        );
    }
    if !(1..=MAX_QUEUE).contains(&e.sending_queue.queue_size) {
        c.err(
            exp.span(),
            format!("{key}.sending_queue.queue_size"),
            format!("must be between 1 and {MAX_QUEUE}"),
        );
    }
    if !(1..=MAX_CONSUMERS).contains(&e.sending_queue.num_consumers) {
        c.err(
            exp.span(),
            format!("{key}.sending_queue.num_consumers"),
            format!("must be between 1 and {MAX_CONSUMERS}"),
        );
    }
}

/// Refuses every key the exporter's `type` does not take (see [`crate::schema::EXPORTER_KEYS`]),
/// pointing at the key where the table kept its position.
fn check_keys_apply(c: &mut Checker<'_, '_>, key: &str, exp: &Spanned<ExporterTable>) {
    let e = exp.get_ref();
    let kind = e.r#type;
    let whole = Some(exp.span());
    let set: [(&str, Option<Range<usize>>); 13] = [
        ("endpoint", e.endpoint.as_ref().map(Spanned::span)),
        ("compression", e.compression.as_ref().map(Spanned::span)),
        ("timeout", e.timeout.as_ref().map(Spanned::span)),
        ("headers", e.headers.as_ref().map(Spanned::span)),
        ("verbosity", e.verbosity.as_ref().map(Spanned::span)),
        ("path", e.path.as_ref().map(Spanned::span)),
        (
            "retry_on_failure",
            e.retry_on_failure.as_ref().map(Spanned::span),
        ),
        ("plugin", e.plugin.as_ref().map(Spanned::span)),
        ("config", e.config.as_ref().and(whole.clone())),
        ("allowed_hosts", e.allowed_hosts.as_ref().map(Spanned::span)),
        ("memory_limit", e.memory_limit.as_ref().map(Spanned::span)),
        ("grants", e.grants.as_ref().and(whole)),
        ("tls", e.tls.as_ref().map(Spanned::span)),
    ];
    for (field, span) in set {
        if let Some(span) = span
            && !kind.takes(field)
        {
            let takers: Vec<&str> = ExporterKind::ALL
                .iter()
                .filter(|k| k.takes(field))
                .map(|k| k.as_str())
                .collect();
            c.err(
                span,
                format!("{key}.{field}"),
                format!(
                    "`{field}` does not apply to exporters of type {} (only to {})",
                    kind.as_str(),
                    takers.join(", ")
                ),
            );
        }
    }
}

/// The timeout and retry settings of exporters that send over the network.
fn check_sending(c: &mut Checker<'_, '_>, key: &str, e: &ExporterTable) {
    if let Some(t) = &e.timeout
        && t.get_ref().0.is_zero()
    {
        c.err(
            t.span(),
            format!("{key}.timeout"),
            "must be greater than zero",
        );
    }
    if let Some(r) = &e.retry_on_failure {
        let rc = r.get_ref();
        let k = format!("{key}.retry_on_failure");
        if !(1.0..=MAX_MULTIPLIER).contains(&rc.multiplier) {
            c.err(
                r.span(),
                format!("{k}.multiplier"),
                format!("must be between 1.0 and {MAX_MULTIPLIER}"),
            );
        }
        if !(0.0..=1.0).contains(&rc.randomization_factor) {
            c.err(
                r.span(),
                format!("{k}.randomization_factor"),
                "must be between 0 and 1",
            );
        }
        if rc.initial_interval.0.is_zero() {
            c.err(
                r.span(),
                format!("{k}.initial_interval"),
                "must be greater than zero",
            );
        }
        if rc.initial_interval > rc.max_interval {
            c.err(
                r.span(),
                format!("{k}.initial_interval"),
                "must not be longer than max_interval",
            );
        }
    }
}

/// `type = "plugin"`: which plugin, and where it may connect.
fn check_plugin_exporter(c: &mut Checker<'_, '_>, key: &str, exp: &Spanned<ExporterTable>) {
    let e = exp.get_ref();
    match &e.plugin {
        None => c.err(
            exp.span(),
            format!("{key}.plugin"),
            "exporters of type plugin need a `plugin`: `builtin:<name>` or a component file",
        ),
        Some(p) if p.get_ref().trim().is_empty() => {
            c.err(p.span(), format!("{key}.plugin"), "must not be empty")
        }
        Some(_) => {}
    }
    if let Some(hosts) = &e.allowed_hosts {
        for h in hosts.get_ref() {
            let bad = h.is_empty()
                || h.contains("://")
                || h.contains('/')
                || h.contains(' ')
                || h.contains('@')
                || h.ends_with(':');
            if bad {
                c.err(
                    hosts.span(),
                    format!("{key}.allowed_hosts"),
                    format!(
                        "{h:?} is not a host or host:port (write `example.com:443`: no scheme, path or credentials)"
                    ),
                );
            }
        }
    }
    if let Some(m) = &e.memory_limit
        && m.get_ref().0 > 1 << 30
    {
        c.err(
            m.span(),
            format!("{key}.memory_limit"),
            "may be at most 1GiB",
        );
    }
}

/// An exporter's `tls` table, checked against its endpoint.
fn check_exporter_tls(
    c: &mut Checker<'_, '_>,
    key: &str,
    e: &ExporterTable,
    endpoint: Option<&str>,
) {
    if let Some(t) = &e.tls {
        let problems = crate::security::check_client_tls(
            &format!("{key}.tls"),
            t.span(),
            t.get_ref(),
            endpoint,
        );
        for (span, k, msg) in problems {
            c.err(span, k, msg);
        }
    }
}

/// An OTLP endpoint: `http://host:port[/path]` or `https://host[:port][/path]`.
fn check_url(url: &str) -> Result<(), String> {
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if let Some(r) = url.strip_prefix("https://") {
        // https has a default port (443).
        let host = r.split('/').next().unwrap_or_default();
        if host.is_empty() || host.starts_with(':') {
            return Err(format!(
                "\"{url}\" needs a host, e.g. \"https://otlp.example.com:4317\""
            ));
        }
        return Ok(());
    } else {
        return Err(format!(
            "\"{url}\" is not a URL: write it as http://HOST:PORT or https://HOST[:PORT], e.g. \"http://127.0.0.1:4317\""
        ));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let port_ok = authority
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok {
        return Err(format!(
            "\"{url}\" needs a host and a port, e.g. \"http://127.0.0.1:4317\""
        ));
    }
    Ok(())
}
