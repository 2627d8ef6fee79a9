//! Host kernels: [`Session::find`] searches every string of a batch natively for a plugin's
//! patterns (and numbers for card numbers), and [`Session::otlp_items`] /
//! [`Session::replace_items`] lend and take back just the items where something was found.
//! A redaction plugin keeps its policy (what to look for, how to replace it) while the bulk of
//! the batch never crosses the Wasm boundary or goes through protobuf.

use regex_automata::meta::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};
use weir_core::Batch;
use weir_core::otlp::common::v1::{AnyValue, KeyValue, any_value::Value as V};

use crate::items::{self, Item, Point};
use crate::splice::{Splice, hollow, subset};
use crate::write::{first_id_problem, invalid};
use crate::{Session, push_u32, unpack_u32};

/// At most this many patterns per `find` call.
pub const MAX_PATTERNS: usize = 256;
/// At most this many bytes of patterns per `find` call.
pub const MAX_PATTERN_BYTES: usize = 64 << 10;

/// A plugin's patterns compiled once, and whether integers and doubles are checked for card
/// numbers. The patterns are searched in up to [`MAX_PASSES`] passes, each of which the regex
/// engine can make fast in its own way: the patterns that start with one of a few literals
/// (`eyJ` of a JWT, `bearer` in any case, a blocked key) together, where the engine skips from
/// one literal to the next; each pattern with a literal inside (`@` in an email) alone, where
/// it searches for that literal and works outwards; and the rest in one automaton that reads
/// every byte. One automaton for all four default redact patterns read the text at 1.7 ns per
/// byte; with the passes, `find` over the load harness's spans went from 0.72 to 0.46 µs per
/// span (benches/README.md, "Searching pattern by pattern").
#[derive(Debug)]
pub struct Matcher {
    /// Searched one after the other over the gathered text; empty when there are no patterns.
    regexes: Vec<Regex>,
    pub(crate) cards: bool,
}

/// At most this many literals in the set one of which starts every match of a pattern (or of
/// a part of it) for the engine to search for them instead of running its automaton.
const MAX_LITERALS: usize = 64;

/// At most this many passes over a batch's text (patterns beyond share the automaton pass).
pub const MAX_PASSES: usize = 8;

/// The compiled size all passes together may reach: the regex engine's default limit for one
/// regex (10 MiB), shared equally by the passes.
const NFA_BYTES: usize = 10 << 20;

/// How the regex engine can search for a pattern without reading every byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literal {
    /// Every match starts with one of a few literals.
    Prefix,
    /// Every match holds one of a few literals somewhere inside (the engine does this only
    /// for a pattern searched alone).
    Inner,
    /// Neither: the automaton reads every byte.
    None,
}

/// Which [`Literal`] case `hir` is. Single-byte literals count only when there are at most
/// three (the engine's `memchr3`).
fn literal(hir: &Hir) -> Literal {
    let quick = |h: &Hir| {
        let seq = Extractor::new().kind(ExtractKind::Prefix).extract(h);
        match (seq.len(), seq.min_literal_len()) {
            (Some(n), Some(min)) if min > 0 && n <= MAX_LITERALS => n <= 3 || min >= 2,
            _ => false,
        }
    };
    if quick(hir) {
        return Literal::Prefix;
    }
    match hir.kind() {
        HirKind::Concat(parts) if parts.iter().any(quick) => Literal::Inner,
        _ => Literal::None,
    }
}

impl Matcher {
    /// Compiles `patterns` (Rust `regex` syntax). A pattern that does not compile, matches the
    /// empty string, or uses an anchor or word boundary (`^`, `$`, `\b`, …) is an error naming
    /// its index: `find` searches the strings of a batch joined into one text, where such
    /// assertions would not mean what they say.
    pub fn new(patterns: &[String], cards: bool) -> Result<Matcher, String> {
        // Compiling runs in the host, outside the plugin's deadline and memory limit: bound it.
        let bytes: usize = patterns.iter().map(String::len).sum();
        if patterns.len() > MAX_PATTERNS || bytes > MAX_PATTERN_BYTES {
            return Err(format!(
                "patterns: {} patterns of {bytes} bytes; find takes at most {MAX_PATTERNS} patterns of {MAX_PATTERN_BYTES} bytes in all",
                patterns.len()
            ));
        }
        let (mut prefixed, mut alone, mut rest) = (Vec::new(), Vec::new(), Vec::new());
        for (i, p) in patterns.iter().enumerate() {
            let hir = regex_syntax::parse(p).map_err(|e| format!("patterns[{i}]: {e}"))?;
            if !hir.properties().look_set().is_empty() {
                return Err(format!(
                    "patterns[{i}]: {p:?} uses an anchor or word boundary (^, $, \\b, …); find searches the strings of a batch joined into one text and cannot honour them"
                ));
            }
            if hir.properties().minimum_len() == Some(0) {
                return Err(format!("patterns[{i}]: {p:?} matches the empty string"));
            }
            match literal(&hir) {
                Literal::Prefix => prefixed.push(i),
                // Two passes are kept for the prefixed patterns and the rest.
                Literal::Inner if alone.len() + 2 < MAX_PASSES => alone.push(i),
                Literal::Inner | Literal::None => rest.push(i),
            }
        }
        // Built from the patterns as given (joining their text could change what one means,
        // e.g. a `(?x)` comment swallowing the rest); an error names the pattern's index. The
        // passes share the size limit one automaton for all patterns had, so splitting them
        // does not raise what a plugin's patterns can make the host compile.
        let passes =
            usize::from(!prefixed.is_empty()) + usize::from(!rest.is_empty()) + alone.len();
        let config = Regex::config().nfa_size_limit(Some(NFA_BYTES / passes.max(1)));
        let build = |indices: &[usize]| {
            let group: Vec<&str> = indices
                .iter()
                .filter_map(|&i| patterns.get(i).map(String::as_str))
                .collect();
            let built = Regex::builder()
                .configure(config.clone())
                .build_many(&group);
            built.map_err(|e| match e.pattern() {
                Some(at) => {
                    let i = indices.get(at.as_usize()).copied().unwrap_or_default();
                    format!("patterns[{i}]: {e}")
                }
                None => format!("patterns: {e}"),
            })
        };
        let mut regexes = Vec::new();
        for group in [prefixed, rest].iter().filter(|g| !g.is_empty()) {
            regexes.push(build(group)?);
        }
        for i in alone {
            regexes.push(build(&[i])?);
        }
        Ok(Matcher { regexes, cards })
    }

    /// How many passes a search makes over a batch's text (see [`Matcher`]).
    pub fn passes(&self) -> usize {
        self.regexes.len()
    }
}

/// What [`Session::find`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Packed u32: the items in which something was found, ascending.
    pub items: Vec<u8>,
    /// Something was found in text shared by many items: resource or scope attributes, or a
    /// metric's metadata.
    pub shared: bool,
}

/// The owner of text shared by several items.
pub(crate) const SHARED: u32 = u32::MAX;

/// The strings of a batch, back to back with a newline after each, cut into segments by owner.
/// Each item's strings are gathered in field-number order, as they lie in an encoded request,
/// so that the decoded and the in-place (`view_find`) paths gather the same text.
pub(crate) struct Gather<'m> {
    pub(crate) m: &'m Matcher,
    text: Vec<u8>,
    /// End offset (exclusive) of each segment in `text`.
    ends: Vec<usize>,
    /// The item index (or [`SHARED`]) of each segment.
    owners: Vec<u32>,
    marked: Vec<bool>,
    shared: bool,
}

impl<'m> Gather<'m> {
    /// An empty gathering for a batch of `items` items whose text is at most about `bytes`
    /// long (reserved at once: growing the buffer step by step copied it several times).
    fn new(m: &'m Matcher, items: u32, bytes: usize) -> Gather<'m> {
        let bytes = if m.regexes.is_empty() { 0 } else { bytes };
        Gather {
            m,
            text: Vec::with_capacity(bytes),
            ends: Vec::new(),
            owners: Vec::new(),
            marked: vec![false; items as usize],
            shared: false,
        }
    }

    /// Marks `owner` (an item, or [`SHARED`]) as holding something.
    pub(crate) fn mark(&mut self, owner: u32) {
        match self.marked.get_mut(owner as usize) {
            Some(m) => *m = true,
            None => self.shared = true,
        }
    }

    /// Adds one string to the current segment.
    pub(crate) fn push(&mut self, s: &[u8]) {
        if !self.m.regexes.is_empty() {
            self.text.extend_from_slice(s);
            self.text.push(b'\n');
        }
    }

    /// Ends the current segment, which belongs to `owner`.
    pub(crate) fn end(&mut self, owner: u32) {
        self.ends.push(self.text.len());
        self.owners.push(owner);
    }

    pub(crate) fn attributes(&mut self, owner: u32, attrs: &[KeyValue]) {
        for kv in attrs {
            self.push(kv.key.as_bytes());
            if let Some(v) = &kv.value {
                self.value(owner, v);
            }
        }
    }

    /// Every string and bytes value of `v` at any depth; integers and doubles for cards.
    pub(crate) fn value(&mut self, owner: u32, v: &AnyValue) {
        match &v.value {
            Some(V::StringValue(s)) => self.push(s.as_bytes()),
            Some(V::BytesValue(b)) => self.push(b),
            Some(V::IntValue(i)) => {
                if self.m.cards && weir_abi::card::int(*i) {
                    self.mark(owner);
                }
            }
            Some(V::DoubleValue(d)) => {
                if self.m.cards && weir_abi::card::double(*d) {
                    self.mark(owner);
                }
            }
            Some(V::ArrayValue(a)) => a.values.iter().for_each(|v| self.value(owner, v)),
            Some(V::KvlistValue(kv)) => self.attributes(owner, &kv.values),
            // A dictionary index (profiles) holds no text of its own.
            Some(V::BoolValue(_) | V::StringValueStrindex(_)) | None => {}
        }
    }

    fn item(&mut self, owner: u32, item: &Item<'_>) {
        match item {
            Item::Span(s) => {
                self.push(s.trace_state.as_bytes());
                self.push(s.name.as_bytes());
                self.attributes(owner, &s.attributes);
                for e in &s.events {
                    self.push(e.name.as_bytes());
                    self.attributes(owner, &e.attributes);
                }
                for l in &s.links {
                    self.push(l.trace_state.as_bytes());
                    self.attributes(owner, &l.attributes);
                }
                if let Some(status) = &s.status {
                    self.push(status.message.as_bytes());
                }
            }
            Item::Log(l) => {
                self.push(l.severity_text.as_bytes());
                if let Some(body) = &l.body {
                    self.value(owner, body);
                }
                self.attributes(owner, &l.attributes);
                self.push(l.event_name.as_bytes());
            }
            Item::Point(_, p) => {
                self.attributes(owner, p.attributes());
                let exemplars = match p {
                    Point::Number(p) => p.exemplars.as_slice(),
                    Point::Histogram(p) => p.exemplars.as_slice(),
                    Point::Exponential(p) => p.exemplars.as_slice(),
                    Point::Summary(_) => &[],
                };
                for e in exemplars {
                    self.attributes(owner, &e.filtered_attributes);
                }
            }
        }
        self.end(owner);
    }

    /// Resource and scope attributes, and metric metadata.
    fn shared_text(&mut self, batch: &Batch) {
        macro_rules! containers {
            ($list:expr, $scopes:ident, |$scope:ident| $inner:block) => {
                for r in $list {
                    if let Some(res) = &r.resource {
                        self.attributes(SHARED, &res.attributes);
                    }
                    for $scope in &r.$scopes {
                        if let Some(s) = &$scope.scope {
                            self.attributes(SHARED, &s.attributes);
                        }
                        $inner
                    }
                }
            };
        }
        match batch {
            // The session decoded it (`Session::new`).
            Batch::Wire(_) => {}
            Batch::Traces(r) => containers!(&r.resource_spans, scope_spans, |s| {}),
            Batch::Logs(r) => containers!(&r.resource_logs, scope_logs, |s| {}),
            Batch::Metrics(r) => containers!(&r.resource_metrics, scope_metrics, |s| {
                for m in &s.metrics {
                    self.attributes(SHARED, &m.metadata);
                }
            }),
        }
        self.end(SHARED);
    }
}

impl Gather<'_> {
    /// Runs the patterns over the gathered text and lists the items marked.
    fn found(mut self) -> Found {
        let segment = |pos: usize| self.ends.partition_point(|&e| e <= pos);
        let mut hits = Vec::new();
        for regex in &self.m.regexes {
            for found in regex.find_iter(self.text.as_slice()) {
                let first = segment(found.start());
                let last = segment(found.end().saturating_sub(1).max(found.start()));
                hits.extend(self.owners.get(first..=last).unwrap_or_default());
            }
        }
        hits.into_iter().for_each(|o| self.mark(o));
        let mut items = Vec::new();
        for (i, _) in (0u32..).zip(&self.marked).filter(|(_, m)| **m) {
            push_u32(&mut items, i);
        }
        Found {
            items,
            shared: self.shared,
        }
    }
}

impl Session {
    /// The items in which `m` finds something: a pattern matching any of their strings (names,
    /// trace states, status messages, attribute keys and values, event and link attributes,
    /// log bodies, exemplar attributes — at any depth, bytes values included), or with cards
    /// on an integer or whole double that is a card number. Strings are searched joined into
    /// one text (in a few passes, see [`Matcher`]), so an item may also be reported for a match
    /// that spans two of its strings; it is never missed. Text shared by many items sets
    /// [`Found::shared`].
    pub fn find(&self, m: &Matcher) -> Found {
        // A request's strings are shorter than its encoding (each has a key and a length before
        // it, and one newline after it here).
        let bytes = self.view.as_ref().map_or(0, |v| v.buf.len());
        let mut g = Gather::new(m, self.items, bytes);
        if let Some(view) = &self.view {
            view.gather(&mut g);
        } else {
            let batch = self.typed();
            let mut index = 0u32;
            items::for_each(batch, |_, _, item| {
                g.item(index, &item);
                index += 1;
            });
            g.shared_text(batch);
        }
        g.found()
    }

    /// Checks a packed list of item indices: strictly ascending and in range.
    fn item_list(&self, packed: &[u8]) -> Result<Vec<u32>, String> {
        let list = unpack_u32(packed)
            .ok_or("an index list must be packed u32 (a multiple of 4 bytes)".to_string())?;
        if let Some(w) = list.windows(2).find(|w| w[0] >= w[1]) {
            return Err(format!(
                "item indices must be ascending without repeats ({} then {})",
                w[0], w[1]
            ));
        }
        if let Some(&last) = list.last()
            && last >= self.items
        {
            return Err(format!(
                "index {last} is out of range (the batch has {} {})",
                self.items,
                self.signal().item_name()
            ));
        }
        Ok(list)
    }

    /// The listed items (packed u32, ascending) as an OTLP protobuf export request: each with
    /// its resource and scope (and, for data points, its metric), and no other item. A bad
    /// list makes the call a plugin error and reads as an empty request.
    pub fn otlp_items(&mut self, packed: &[u8]) -> Vec<u8> {
        match self.item_list(packed) {
            Ok(list) => self.subset_bytes(&list),
            Err(message) => {
                self.record_invalid(invalid("otlp-items", message));
                Vec::new()
            }
        }
    }

    /// Takes back the items of a request read with [`Session::otlp_items`] of the same list:
    /// every item of `request` replaces the listed item at its place. Resources, scopes and
    /// metrics must come back as they were lent (they are shared with other items), and this
    /// cannot be combined with other writes in the same call.
    pub fn replace_items(&mut self, packed: &[u8], request: &[u8]) -> Result<(), String> {
        const CALL: &str = "replace-items";
        self.only_write(CALL)?;
        let list = match self.item_list(packed) {
            Ok(list) => list,
            Err(message) => {
                let e = invalid(CALL, message);
                let shown = e.to_string();
                self.record_invalid(e);
                return Err(shown);
            }
        };
        let returned = self.decode_request(request)?;
        // Compared encoded: prost's equality says NaN != NaN, and a NaN attribute would make
        // every hand-back fail.
        let lent = match &self.view {
            Some(_) => self.decode_request(&self.subset_bytes(&list))?,
            None => subset(self.typed(), &list),
        };
        if hollow(&returned).encode_to_vec() != hollow(&lent).encode_to_vec() {
            let message = "the request must hold the listed items under the resources, scopes and metrics otlp-items lent, unchanged and in the same order";
            self.record_invalid(invalid(CALL, message));
            return Err(message.into());
        }
        if let Some((at, problem)) = first_id_problem(&returned) {
            // Numbered as the batch numbers its items, not as the lent request does.
            let item = list.get(at as usize).copied().unwrap_or(at);
            self.record_invalid(invalid(CALL, format!("item {item}: {problem}")));
            return Err("invalid ids".into());
        }
        self.splice = Some(Splice {
            items: list,
            replacement: returned,
        });
        Ok(())
    }
}
