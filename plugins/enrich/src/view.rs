//! The batch's attributes as the actions so far have left them: each key is read from the host
//! once, writes are remembered per owner (so later actions see them) and sent together at the
//! end, a column at a time.
//!
//! Nothing here copies a value per owner: a static or derived value is one shared allocation
//! for every span it lands on, and a renamed or copied value is a reference to the column it
//! came from until the flush packs it into the one column sent to the host.

use std::rc::Rc;

use weir_plugin::columns::{Values, ValuesBuilder};
use weir_plugin::{Batch, Level, Value, ValueRef};

/// What the actions left on one owner of one column.
#[derive(Clone)]
pub(crate) enum Slot {
    /// The key was removed.
    Removed,
    /// Set to a value, shared by every owner it was set on.
    Set(Rc<Value>),
    /// Set to what the column with this index held for the same owner when the call started
    /// (a rename or a copy from another attribute).
    Original(usize),
}

/// One attribute key of one level, as the actions so far have left it.
struct Column {
    level: Level,
    key: String,
    /// What the batch held when the call started (fetched from the host once).
    original: Values,
    /// Per owner: `None` untouched, else what was written.
    written: Vec<Option<Slot>>,
}

/// See the module doc.
pub(crate) struct View<'b, 'a> {
    batch: &'b Batch<'a>,
    columns: Vec<Column>,
}

impl<'b, 'a> View<'b, 'a> {
    pub(crate) fn new(batch: &'b Batch<'a>) -> View<'b, 'a> {
        View {
            batch,
            columns: Vec::new(),
        }
    }

    pub(crate) fn batch(&self) -> &'b Batch<'a> {
        self.batch
    }

    /// The index of `key`'s column at `level`, fetching it on first use.
    pub(crate) fn column(&mut self, level: Level, key: &str) -> usize {
        if let Some(i) = self
            .columns
            .iter()
            .position(|c| c.level == level && c.key == key)
        {
            return i;
        }
        let owners = match level {
            Level::Item => self.batch.len(),
            Level::Resource => self.batch.resource_count(),
        };
        self.columns.push(Column {
            level,
            key: key.to_string(),
            original: self.batch.attribute(level, key),
            written: vec![None; owners as usize],
        });
        self.columns.len() - 1
    }

    /// Whether the key is present on `owner` now (without copying its value).
    pub(crate) fn has(&self, column: usize, owner: usize) -> bool {
        self.columns
            .get(column)
            .is_some_and(|c| match c.written.get(owner) {
                Some(Some(slot)) => !matches!(slot, Slot::Removed),
                _ => c.original.get(owner).is_some(),
            })
    }

    /// The key's value on `owner` now, as a slot to write elsewhere (`None` when absent).
    pub(crate) fn current(&self, column: usize, owner: usize) -> Option<Slot> {
        let c = self.columns.get(column)?;
        match c.written.get(owner) {
            Some(Some(Slot::Removed)) => None,
            Some(Some(slot)) => Some(slot.clone()),
            _ => c.original.get(owner).map(|_| Slot::Original(column)),
        }
    }

    /// What `slot` holds for `owner`, borrowed.
    fn resolve<'s>(&'s self, slot: &'s Slot, owner: usize) -> Option<ValueRef<'s>> {
        match slot {
            Slot::Removed => None,
            Slot::Set(v) => Some(v.borrowed()),
            Slot::Original(c) => self.columns.get(*c)?.original.get(owner),
        }
    }

    /// The key's value on `owner` now, borrowed.
    pub(crate) fn value(&self, column: usize, owner: usize) -> Option<ValueRef<'_>> {
        let c = self.columns.get(column)?;
        match c.written.get(owner) {
            Some(Some(slot)) => self.resolve(slot, owner),
            _ => c.original.get(owner),
        }
    }

    /// The key's string value on `owner` now, borrowed.
    pub(crate) fn text(&self, column: usize, owner: usize) -> Option<&str> {
        self.value(column, owner).and_then(|v| v.as_str())
    }

    /// The key's value on `owner` now, copied.
    pub(crate) fn get(&self, column: usize, owner: usize) -> Option<Value> {
        self.value(column, owner).map(Value::from)
    }

    pub(crate) fn set(&mut self, column: usize, owner: usize, slot: Slot) {
        if let Some(w) = self
            .columns
            .get_mut(column)
            .and_then(|c| c.written.get_mut(owner))
        {
            *w = Some(slot);
        }
    }

    /// Sends the writes, per column: the removals as one call; one value set on every owner
    /// written (a static value, a derivation every span shares) as one call; values that differ
    /// per owner as one column of values.
    pub(crate) fn flush(self) {
        for c in &self.columns {
            let removed: Vec<u32> = (0u32..)
                .zip(&c.written)
                .filter_map(|(o, w)| matches!(w, Some(Slot::Removed)).then_some(o))
                .collect();
            if !removed.is_empty() {
                self.batch.remove_attribute_on(c.level, &c.key, &removed);
            }
            let sets: Vec<(u32, &Slot)> = (0u32..)
                .zip(&c.written)
                .filter_map(|(o, w)| match w {
                    Some(Slot::Removed) | None => None,
                    Some(slot) => Some((o, slot)),
                })
                .collect();
            let Some(&(_, first)) = sets.first() else {
                continue;
            };
            if let Slot::Set(one) = first
                && sets.iter().all(|(_, s)| match s {
                    Slot::Set(v) => Rc::ptr_eq(v, one) || v == one,
                    _ => false,
                })
            {
                let owners: Vec<u32> = sets.iter().map(|(o, _)| *o).collect();
                self.batch
                    .set_attribute_on(c.level, &c.key, (**one).clone(), &owners);
                continue;
            }
            let mut owners = Vec::with_capacity(sets.len());
            let mut values = ValuesBuilder::with_capacity(sets.len(), sets.len() * 16);
            for (o, slot) in sets {
                if let Some(v) = self.resolve(slot, o as usize) {
                    owners.push(o);
                    values.push(v);
                }
            }
            self.batch
                .set_attribute_values(c.level, &c.key, &owners, values);
        }
    }
}
