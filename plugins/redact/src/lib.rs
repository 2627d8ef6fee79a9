//! `builtin:redact`: finds secrets and personal data everywhere they can hide in spans, metrics
//! and logs (see `walk`), and masks, keyed-hashes or removes them. Counts every redaction per
//! attribute key (or location, e.g. `span.name`) in `weir_plugin_counter_total{counter="redactions"}`
//! — never the values.
//!
//! ```toml
//! [processors.scrub.config]
//! action = "hash"                        # mask | hash | remove
//! hash_key = "${REDACT_HASH_KEY}"
//! detectors = ["credit-card", "email", "jwt", "bearer-token"]
//! blocked_keys = ["password", "http.request.header.authorization"]
//! ```

use std::collections::HashSet;

use hmac::{Hmac, Mac};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use prost::Message;
use regex::{Regex, RegexSet};
use sha2::Sha256;
use weir_plugin::{Batch, Config, Processor, Signal};

pub mod detect;
pub mod walk;

use detect::Detector;

/// What happens to what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Replace the match (or a blocked key's whole value) with the mask text.
    Mask,
    /// Replace it with `hmac:` and 16 letters of its HMAC-SHA256 under `hash_key`: equal inputs
    /// give equal outputs across restarts and instances, so values can still be correlated.
    Hash,
    /// Remove the attribute (text fields and values inside bodies and maps are masked instead).
    Remove,
}

/// The config as written; docs/processors/redact.md documents every key.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "mask_action")]
    action: String,
    #[serde(default = "mask_text")]
    mask: String,
    hash_key: Option<String>,
    detectors: Option<Vec<String>>,
    #[serde(default)]
    custom_patterns: Vec<CustomPattern>,
    #[serde(default)]
    blocked_keys: Vec<String>,
    #[serde(default)]
    blocked_key_patterns: Vec<String>,
    allowed_keys: Option<Vec<String>>,
    #[serde(default)]
    allowed_key_patterns: Vec<String>,
    #[serde(default)]
    ignored_keys: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomPattern {
    name: String,
    regex: String,
}

fn mask_action() -> String {
    "mask".into()
}
fn mask_text() -> String {
    "****".into()
}

/// The compiled rules; the logic is plain Rust over OTLP types (benchmarked natively too).
pub struct Redactor {
    pub(crate) action: Action,
    pub(crate) mask: String,
    hash_key: Vec<u8>,
    detectors: Vec<Detector>,
    /// Every detector's candidate regex in one set: a string none of them can match (most
    /// strings) costs one scan instead of one per detector.
    prefilter: RegexSet,
    /// The same question over a whole encoded request, so a batch with nothing to redact is
    /// never decoded. `None` when it cannot be answered that way (an allow-list, key patterns,
    /// anchored custom patterns): then every batch is decoded.
    blob_filter: Option<regex::bytes::RegexSet>,
    /// The blob filter's patterns, for the host's `find` kernel: Weir searches the batch
    /// natively and lends only the items that may hold something. `None` when `blob_filter` is.
    kernel: Option<Vec<String>>,
    /// Whether the card detector runs (it also looks at numbers, not only text).
    card: bool,
    blocked: HashSet<String>,
    blocked_patterns: Option<RegexSet>,
    allowed: Option<(HashSet<String>, Option<RegexSet>)>,
    pub(crate) ignored: HashSet<String>,
}

fn patterns(key: &str, list: &[String]) -> Result<Option<RegexSet>, String> {
    for (i, p) in list.iter().enumerate() {
        Regex::new(p).map_err(|e| format!("{key}[{i}]: invalid regex {p:?}: {e}"))?;
    }
    if list.is_empty() {
        return Ok(None);
    }
    RegexSet::new(list)
        .map(Some)
        .map_err(|e| format!("{key}: {e}"))
}

impl Redactor {
    /// Builds the rules from the plugin's JSON config; errors name the key at fault.
    pub fn from_config(json: &str) -> Result<Redactor, String> {
        let s: Settings = Config::new(json).parse()?;
        let action = match s.action.as_str() {
            "mask" => Action::Mask,
            "hash" => Action::Hash,
            "remove" => Action::Remove,
            other => {
                return Err(format!(
                    "action: unknown action {other:?} (one of: mask, hash, remove)"
                ));
            }
        };
        let hash_key = match (action, s.hash_key) {
            (Action::Hash, None) => {
                return Err("hash_key: required when action = \"hash\" (at least 16 bytes; keep it secret, e.g. hash_key = \"${REDACT_HASH_KEY}\")".into());
            }
            (Action::Hash, Some(k)) if k.len() < 16 => {
                return Err(format!(
                    "hash_key: {} bytes is too short; use at least 16",
                    k.len()
                ));
            }
            (Action::Hash, Some(k)) => k.into_bytes(),
            (_, Some(_)) => return Err("hash_key: only used with action = \"hash\"".into()),
            (_, None) => Vec::new(),
        };
        if s.mask.is_empty() {
            return Err("mask: must not be empty".into());
        }
        let names = s
            .detectors
            .unwrap_or_else(|| detect::DEFAULT.iter().map(|d| d.to_string()).collect());
        let mut detectors = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let d = Detector::builtin(name).ok_or_else(|| {
                format!(
                    "detectors[{i}]: unknown detector {name:?} (one of: {}; or add it to custom_patterns)",
                    detect::BUILTIN.join(", ")
                )
            })?;
            detectors.push(d);
        }
        for (i, c) in s.custom_patterns.iter().enumerate() {
            if c.name.is_empty() {
                return Err(format!("custom_patterns[{i}].name: must not be empty"));
            }
            let r = Regex::new(&c.regex).map_err(|e| {
                format!(
                    "custom_patterns[{i}].regex: invalid regex {:?}: {e}",
                    c.regex
                )
            })?;
            if r.is_match("") {
                return Err(format!(
                    "custom_patterns[{i}].regex: {:?} matches the empty string",
                    c.regex
                ));
            }
            detectors.push(Detector::custom(&c.name, r));
        }
        let allowed = match (s.allowed_keys, s.allowed_key_patterns.is_empty()) {
            (None, true) => None,
            (keys, _) => Some((
                keys.unwrap_or_default().into_iter().collect(),
                patterns("allowed_key_patterns", &s.allowed_key_patterns)?,
            )),
        };
        let prefilter = RegexSet::new(detectors.iter().map(Detector::pattern))
            .map_err(|e| format!("detectors: {e}"))?;
        let blocked_patterns = patterns("blocked_key_patterns", &s.blocked_key_patterns)?;
        let loose: Option<Vec<String>> = detectors
            .iter()
            .map(|d| d.loose_pattern().map(str::to_string))
            .chain(s.blocked_keys.iter().map(|k| Some(regex::escape(k))))
            .collect();
        let (blob_filter, kernel) = match loose {
            Some(p) if allowed.is_none() && blocked_patterns.is_none() => (
                Some(regex::bytes::RegexSet::new(&p).map_err(|e| format!("detectors: {e}"))?),
                Some(p),
            ),
            _ => (None, None),
        };
        let r = Redactor {
            prefilter,
            blob_filter,
            kernel,
            action,
            card: detectors.iter().any(|d| d.name == "credit-card"),
            detectors,
            mask: s.mask,
            hash_key,
            blocked: s.blocked_keys.into_iter().collect(),
            blocked_patterns,
            allowed,
            ignored: s.ignored_keys.into_iter().collect(),
        };
        if r.redact_text(&r.mask).is_some() {
            return Err(format!("mask: {:?} would itself be redacted", r.mask));
        }
        if action == Action::Hash && r.redact_text("hmac:abcdefghijklmnop").is_some() {
            return Err(
                "custom_patterns: a pattern matches the hash output (`hmac:` and 16 letters a-p), so redacting twice would hash the hash"
                    .into(),
            );
        }
        if let Some(k) = r.ignored.iter().find(|k| r.blocked(k)) {
            return Err(format!(
                "ignored_keys: {k:?} is also blocked (blocked_keys or blocked_key_patterns); a key cannot be both"
            ));
        }
        Ok(r)
    }

    /// False when the encoded request `blob` certainly holds nothing to redact: no detector's
    /// pattern, blocked key or card-like integer occurs anywhere in its bytes (protobuf keeps
    /// every string as contiguous UTF-8). True when it may, or when that cannot be told.
    pub fn may_need_redaction(&self, blob: &[u8]) -> bool {
        let Some(filter) = &self.blob_filter else {
            return true;
        };
        filter.is_match(blob)
            || (self.card && (detect::has_card_varint(blob) || detect::has_card_double(blob)))
    }

    /// The patterns and card flag for the host's `find` kernel, or `None` when every batch
    /// has to be read whole (allow-lists, key patterns, anchored custom patterns).
    pub fn kernel(&self) -> Option<(&[String], bool)> {
        self.kernel.as_deref().map(|p| (p, self.card))
    }

    /// True when attribute `key` survives the allow-list.
    pub(crate) fn allowed(&self, key: &str) -> bool {
        match &self.allowed {
            None => true,
            Some((keys, pats)) => {
                keys.contains(key) || pats.as_ref().is_some_and(|p| p.is_match(key))
            }
        }
    }

    /// True when `key`'s whole value is redacted.
    pub(crate) fn blocked(&self, key: &str) -> bool {
        self.blocked.contains(key)
            || self
                .blocked_patterns
                .as_ref()
                .is_some_and(|p| p.is_match(key))
    }

    /// True when `s` is already this redactor's output (so redacting twice changes nothing).
    pub(crate) fn is_redacted(&self, s: &str) -> bool {
        s == self.mask
            || s.strip_prefix("hmac:")
                .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| (b'a'..=b'p').contains(&b)))
    }

    /// True when the card detector is on and `i` is a card number.
    pub(crate) fn is_card_int(&self, i: i64) -> bool {
        self.card && detect::card_int(i)
    }

    /// True when the card detector is on and `d` is a whole-number card number.
    pub(crate) fn is_card_double(&self, d: f64) -> bool {
        self.card && detect::card_double(d)
    }

    /// What a found value is replaced with.
    pub(crate) fn replacement(&self, found: &str) -> String {
        match self.action {
            Action::Hash => {
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.hash_key) else {
                    return self.mask.clone();
                };
                // A card number hashes the same however it was written (spaces, dashes, int).
                let digits: String = found.chars().filter(char::is_ascii_digit).collect();
                let card_like = digits.len() >= 13
                    && found
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
                mac.update(if card_like { &digits } else { found }.as_bytes());
                let digest = mac.finalize().into_bytes();
                // Letters a–p, no digits: the output never looks like a card, SSN or key.
                let mut out = String::from("hmac:");
                for b in digest.iter().take(8) {
                    out.push(char::from(b'a' + (b >> 4)));
                    out.push(char::from(b'a' + (b & 0x0f)));
                }
                out
            }
            Action::Mask | Action::Remove => self.mask.clone(),
        }
    }

    /// `s` with everything the detectors find replaced, and how many ranges that was; `None`
    /// when nothing was found.
    pub fn redact_text(&self, s: &str) -> Option<(String, u64)> {
        let hits = self.prefilter.matches(s);
        if !hits.matched_any() {
            return None;
        }
        let mut found = Vec::new();
        for i in hits.iter() {
            if let Some(d) = self.detectors.get(i) {
                d.find(s, &mut found);
            }
        }
        if found.is_empty() {
            return None;
        }
        found.sort_unstable_by_key(|&(a, b)| (a, std::cmp::Reverse(b)));
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(found.len());
        for (a, b) in found {
            match merged.last_mut() {
                Some(last) if a < last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut out = String::with_capacity(s.len());
        let mut at = 0;
        for &(a, b) in &merged {
            out.push_str(&s[at..a]);
            out.push_str(&self.replacement(&s[a..b]));
            at = b;
        }
        out.push_str(&s[at..]);
        Some((out, merged.len() as u64))
    }

    /// Redacts a decoded traces request in place and returns the counts per label (what a
    /// native processor would do; the plugin goes through protobuf instead).
    pub fn redact_traces(
        &self,
        req: &mut ExportTraceServiceRequest,
    ) -> std::collections::BTreeMap<String, u64> {
        let mut pass = walk::Pass::new(self);
        pass.traces(req);
        pass.counts
    }

    /// Redacts one OTLP export request (protobuf) of `signal`; `None` when nothing changed.
    pub fn redact_otlp(
        &self,
        signal: Signal,
        bytes: &[u8],
    ) -> Result<(Option<Vec<u8>>, walk::Pass<'_>), String> {
        let mut pass = walk::Pass::new(self);
        let err = |e: prost::DecodeError| format!("the host's batch did not decode: {e}");
        let out = match signal {
            Signal::Traces => {
                let mut r = ExportTraceServiceRequest::decode(bytes).map_err(err)?;
                pass.traces(&mut r);
                pass.changed().then(|| r.encode_to_vec())
            }
            Signal::Metrics => {
                let mut r = ExportMetricsServiceRequest::decode(bytes).map_err(err)?;
                pass.metrics(&mut r);
                pass.changed().then(|| r.encode_to_vec())
            }
            Signal::Logs => {
                let mut r = ExportLogsServiceRequest::decode(bytes).map_err(err)?;
                pass.logs(&mut r);
                pass.changed().then(|| r.encode_to_vec())
            }
        };
        Ok((out, pass))
    }
}

/// A value as one string, for hashing a blocked key's whole value.
pub(crate) fn canonical(v: &AnyValue) -> String {
    match &v.value {
        Some(V::StringValue(s)) => s.clone(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(d)) => d.to_string(),
        Some(V::BoolValue(b)) => b.to_string(),
        // Arrays, maps and bytes: their protobuf encoding, which is stable across builds.
        _ => v
            .encode_to_vec()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    }
}

/// The plugin: a [`Redactor`] run on each batch through the OTLP form of the items Weir's
/// `find` kernel reports (or of the whole batch when it cannot be used).
pub struct Redact {
    redactor: Redactor,
    /// False once the host refused the kernel's patterns (then every batch is read whole).
    use_kernel: bool,
}

impl Processor for Redact {
    fn init(config: Config) -> Result<Self, String> {
        Ok(Redact {
            redactor: Redactor::from_config(config.json())?,
            use_kernel: true,
        })
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        // Only the items Weir finds something in cross into the plugin; the whole batch when
        // something is in text many items share (a resource's attributes), or without a kernel.
        let mut lent = None;
        if let Some((patterns, cards)) = self.redactor.kernel().filter(|_| self.use_kernel) {
            match batch.find(patterns, cards) {
                Ok(found) if found.shared => {}
                Ok(found) if found.items.is_empty() => return Ok(()),
                Ok(found) => lent = Some(found.items),
                Err(e) => {
                    weir_plugin::log::warn(&format!(
                        "Weir's find kernel refused the detectors' patterns ({e}); reading whole batches from now on"
                    ));
                    self.use_kernel = false;
                }
            }
        }
        let blob = match &lent {
            Some(items) => batch.otlp_items(items),
            None => batch.otlp(),
        };
        if lent.is_none() && !self.redactor.may_need_redaction(&blob) {
            return Ok(());
        }
        let (out, pass) = self.redactor.redact_otlp(batch.signal(), &blob)?;
        match (out, &lent) {
            (Some(bytes), Some(items)) => batch.replace_items(items, &bytes)?,
            (Some(bytes), None) => batch.replace_otlp(&bytes)?,
            (None, _) => {}
        }
        for (label, n) in &pass.counts {
            weir_plugin::metrics::counter_add("redactions", label, *n);
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
weir_plugin::export_processor!(Redact);

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests;
