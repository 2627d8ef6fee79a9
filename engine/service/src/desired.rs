//! The desired state of a gateway: a config, and what every file it names holds now. Two
//! desired states are all [`crate::plan`] needs to say what a reload changes: a component is
//! rebuilt when its config *or* the content of one of its files differs.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use weir_config::{Config, ExporterConfig, PolicyConfig};

/// A component of the gateway that is built from files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    /// `[processors.<name>]`: its plugin file.
    Processor(String),
    /// `[samplers.<name>]`: the plugin files of its policies.
    Sampler(String),
    /// `[exporters.<name>]`: its plugin file and its `tls` files.
    Exporter(String),
}

/// A config and the content hash of every file its components are built from.
///
/// Receivers' and the admin listener's certificate and credential files are not here: their
/// listeners re-read them in place (`weir-tls`, `weir-auth`) without being rebuilt.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The config.
    pub config: Config,
    /// Every (component, file) pair the config names, with the file's content hash when it
    /// was read (`None`: it could not be read).
    files: BTreeMap<(Component, PathBuf), Option<u64>>,
}

/// A hash of a file's content, to tell versions apart.
pub(crate) fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// A hash of the file's content now (`None` if it cannot be read).
fn hash_now(path: &Path) -> Option<u64> {
    std::fs::read(path).ok().map(|b| content_hash(&b))
}

impl Desired {
    /// `config` with every file it names read and hashed now (blocking file I/O).
    pub fn read(config: Config) -> Desired {
        let files = referenced(&config)
            .into_iter()
            .map(|(c, path)| {
                let hash = hash_now(&path);
                ((c, path), hash)
            })
            .collect();
        Desired { config, files }
    }

    /// A desired state from known hashes (tests, and a state rebuilt after a partial failure).
    pub fn with_hashes(config: Config, hashes: &BTreeMap<PathBuf, Option<u64>>) -> Desired {
        let files = referenced(&config)
            .into_iter()
            .map(|(c, path)| {
                let hash = hashes.get(&path).copied().flatten();
                ((c, path), hash)
            })
            .collect();
        Desired { config, files }
    }

    /// The files of `component` with their hashes.
    pub fn files_of<'a>(
        &'a self,
        component: &'a Component,
    ) -> impl Iterator<Item = (&'a Path, Option<u64>)> + 'a {
        self.files
            .iter()
            .filter(move |((c, _), _)| c == component)
            .map(|((_, p), h)| (p.as_path(), *h))
    }

    /// Whether `component`'s files differ between `self` and `other` (one added, removed or
    /// with other content).
    pub fn files_differ(&self, other: &Desired, component: &Component) -> bool {
        !self.files_of(component).eq(other.files_of(component))
    }

    /// Every file named, once (for the file watcher).
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.files.keys().map(|(_, p)| p.clone()).collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Keeps `old`'s hash for the files of `component`: what runs is still what was read
    /// then (a processor whose new version failed to load keeps running the old one, and the
    /// next reload tries again).
    pub(crate) fn keep_old_files(&mut self, old: &Desired, component: &Component) {
        self.files.retain(|(c, _), _| c != component);
        for (path, hash) in old.files_of(component) {
            self.files
                .insert((component.clone(), path.to_path_buf()), hash);
        }
    }
}

/// Every file the config's components are built from: processor plugin files, sampler policy
/// plugin files, exporter plugin files and exporter `tls` files (`builtin:` plugins are part of
/// the binary, not files).
pub fn referenced(config: &Config) -> Vec<(Component, PathBuf)> {
    let mut out = Vec::new();
    let file = |name: &str| (!name.starts_with("builtin:")).then(|| config.resolve_path(name));
    for (name, p) in &config.processors {
        if let Some(path) = file(p.plugin.get_ref()) {
            out.push((Component::Processor(name.clone()), path));
        }
    }
    for (name, s) in &config.samplers {
        let mut stack: Vec<&PolicyConfig> = s.policies.iter().map(|p| p.get_ref()).collect();
        while let Some(p) = stack.pop() {
            stack.extend(p.policies.iter().map(|sub| sub.get_ref()));
            if let Some(path) = p.plugin.as_ref().and_then(|f| file(f.get_ref())) {
                out.push((Component::Sampler(name.clone()), path));
            }
        }
    }
    for (name, e) in &config.exporters {
        let c = || Component::Exporter(name.clone());
        if let ExporterConfig::Plugin(p) = e
            && let Some(path) = file(p.plugin.get_ref())
        {
            out.push((c(), path));
        }
        out.extend(
            crate::security::exporter_files(config, e)
                .into_iter()
                .map(|p| (c(), p)),
        );
    }
    out
}
