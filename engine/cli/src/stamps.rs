//! Which files each component was built from (plugin components, policy files, certificates),
//! with a hash of what was read, so that a reload rebuilds a component whose files changed even
//! when its config did not. One type for exporters and samplers alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files by component name, each with the hash of its content when the component read it
/// (`None`: it could not be read then).
#[derive(Default, Clone, Debug)]
pub(crate) struct FileStamps(BTreeMap<String, Vec<(PathBuf, Option<u64>)>>);

/// A hash of the file's content now (`None` if it cannot be read).
fn hash_now(path: &Path) -> Option<u64> {
    std::fs::read(path)
        .ok()
        .map(|b| crate::reload::content_hash(&b))
}

impl FileStamps {
    /// Remembers that component `name` was built from `path` as it is now.
    pub(crate) fn track(&mut self, name: &str, path: PathBuf) {
        let hash = hash_now(&path);
        self.0
            .entry(name.to_string())
            .or_default()
            .push((path, hash));
    }

    /// Remembers that component `name` was built from `bytes`, read from `path`.
    pub(crate) fn track_read(&mut self, name: &str, path: PathBuf, bytes: &[u8]) {
        let hash = Some(crate::reload::content_hash(bytes));
        self.0
            .entry(name.to_string())
            .or_default()
            .push((path, hash));
    }

    /// Whether any of component `name`'s files now differs from what it read.
    pub(crate) fn changed(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|files| files.iter().any(|(path, hash)| hash_now(path) != *hash))
    }

    /// Every file, for the file watcher.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        self.0.values().flatten().map(|(p, _)| p.clone()).collect()
    }

    /// Forgets the components `keep` rejects.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.0.retain(|name, _| keep(name));
    }
}
