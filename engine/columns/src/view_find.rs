//! `find` over a request kept as bytes ([`View`]): the strings of each item gathered where they
//! lie, in the order the decoded path gathers them (field-number order). Every copy of a field
//! given more than once is searched, since the bytes sent on hold them all.

use weir_core::Signal;

use crate::find::{Gather, SHARED};
use crate::view::{Val, View, bodies, fields};

/// Gathers one `KeyValue` body: its key and its value's strings.
fn key_value(g: &mut Gather<'_>, owner: u32, body: &[u8]) {
    for f in fields(body) {
        match (f.tag, f.body()) {
            (1, Some(key)) => g.push(key),
            (2, Some(value)) => any_value(g, owner, value),
            _ => {}
        }
    }
}

/// Gathers one `AnyValue` body at any depth; integers and doubles are checked for cards.
fn any_value(g: &mut Gather<'_>, owner: u32, body: &[u8]) {
    for f in fields(body) {
        match (f.tag, f.val) {
            (1 | 7, Val::Len(s)) => g.push(s),
            (3, Val::Varint(v)) if g.m.cards && weir_abi::card::int(v.cast_signed()) => {
                g.mark(owner);
            }
            (4, Val::I64(bits)) if g.m.cards && weir_abi::card::double(f64::from_bits(bits)) => {
                g.mark(owner);
            }
            (5, Val::Len(array)) => bodies(array, 1).for_each(|v| any_value(g, owner, v)),
            (6, Val::Len(list)) => bodies(list, 1).for_each(|kv| key_value(g, owner, kv)),
            _ => {}
        }
    }
}

/// Gathers the strings of one span.
fn span(g: &mut Gather<'_>, owner: u32, body: &[u8]) {
    for f in fields(body) {
        let Some(b) = f.body() else { continue };
        match f.tag {
            // Trace state, name.
            3 | 5 => g.push(b),
            9 => key_value(g, owner, b),
            // Events: name, attributes.
            11 => {
                for e in fields(b) {
                    match (e.tag, e.body()) {
                        (2, Some(name)) => g.push(name),
                        (3, Some(kv)) => key_value(g, owner, kv),
                        _ => {}
                    }
                }
            }
            // Links: trace state, attributes.
            13 => {
                for l in fields(b) {
                    match (l.tag, l.body()) {
                        (3, Some(state)) => g.push(state),
                        (4, Some(kv)) => key_value(g, owner, kv),
                        _ => {}
                    }
                }
            }
            // Status message.
            15 => bodies(b, 2).for_each(|m| g.push(m)),
            _ => {}
        }
    }
}

/// Gathers the strings of one log record.
fn log(g: &mut Gather<'_>, owner: u32, body: &[u8]) {
    for f in fields(body) {
        let Some(b) = f.body() else { continue };
        match f.tag {
            // Severity text, event name.
            3 | 12 => g.push(b),
            5 => any_value(g, owner, b),
            6 => key_value(g, owner, b),
            _ => {}
        }
    }
}

impl View {
    /// Gathers every string of the request for `find`: each item's, then the resource and scope
    /// attributes shared by many.
    pub(crate) fn gather(&self, g: &mut Gather<'_>) {
        for (i, it) in (0u32..).zip(&self.items) {
            let body = self.at(&it.body);
            match self.signal {
                Signal::Traces => span(g, i, body),
                Signal::Logs => log(g, i, body),
                // A view is never made for metrics.
                Signal::Metrics => {}
            }
            g.end(i);
        }
        for at in &self.resources {
            for f in fields(self.at(&at.body)) {
                match (f.tag, f.body()) {
                    (1, Some(resource)) => {
                        bodies(resource, 1).for_each(|kv| key_value(g, SHARED, kv));
                    }
                    (2, Some(scope_entry)) => {
                        for scope in bodies(scope_entry, 1) {
                            bodies(scope, 3).for_each(|kv| key_value(g, SHARED, kv));
                        }
                    }
                    _ => {}
                }
            }
        }
        g.end(SHARED);
    }
}
