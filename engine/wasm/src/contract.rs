//! The plugin contract, read from `wit/` itself: which functions each plugin world exports, and
//! which interfaces a plugin of that world may import (the `*-host` worlds of
//! `wit/sandbox.wit`, over the WASI packages vendored in `wit/deps/`). Loading a plugin and
//! `weir plugin check` both judge a component by these worlds, so the WIT is the one place that
//! says what a plugin may use.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use wit_parser::{Resolve, SourceMap, WorldItem, WorldKey};

/// The WIT files, embedded: the `weir:plugin` package and its dependencies.
const PACKAGE: [(&str, &str); 2] = [
    ("wit/plugin.wit", include_str!("../../../wit/plugin.wit")),
    ("wit/sandbox.wit", include_str!("../../../wit/sandbox.wit")),
];
const DEPS: [(&str, &str); 7] = [
    (
        "wit/deps/io/io.wit",
        include_str!("../../../wit/deps/io/io.wit"),
    ),
    (
        "wit/deps/clocks/clocks.wit",
        include_str!("../../../wit/deps/clocks/clocks.wit"),
    ),
    (
        "wit/deps/random/random.wit",
        include_str!("../../../wit/deps/random/random.wit"),
    ),
    (
        "wit/deps/cli/cli.wit",
        include_str!("../../../wit/deps/cli/cli.wit"),
    ),
    (
        "wit/deps/filesystem/filesystem.wit",
        include_str!("../../../wit/deps/filesystem/filesystem.wit"),
    ),
    (
        "wit/deps/sockets/sockets.wit",
        include_str!("../../../wit/deps/sockets/sockets.wit"),
    ),
    (
        "wit/deps/http/http.wit",
        include_str!("../../../wit/deps/http/http.wit"),
    ),
];

/// A plugin world of `wit/plugin.wit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum World {
    /// `processor`: batches in, batches out.
    Processor,
    /// `sampler`: a tail-sampling policy.
    Sampler,
    /// `exporter`: sends batches to a backend over `wasi:http`.
    Exporter,
}

impl World {
    /// Every plugin world.
    pub const ALL: [World; 3] = [World::Processor, World::Sampler, World::Exporter];

    /// The world's name in `wit/plugin.wit`.
    pub fn name(self) -> &'static str {
        match self {
            World::Processor => "processor",
            World::Sampler => "sampler",
            World::Exporter => "exporter",
        }
    }

    /// The world of `wit/sandbox.wit` that adds what a plugin of this world may import.
    fn hosted(self) -> &'static str {
        match self {
            World::Processor => "processor-host",
            World::Sampler => "sampler-host",
            World::Exporter => "exporter-host",
        }
    }

    /// The functions a component of this world must export, sorted.
    pub fn exports(self) -> &'static [String] {
        &contract().worlds[&self].exports
    }

    /// Why `import` (a component import name, e.g. `wasi:clocks/wall-clock@0.2.6`) is refused
    /// to a plugin of this world, or `None` if its hosted world provides it. Versions link by
    /// semver: any `0.2.x` of a WASI interface is served by the vendored one.
    pub fn refuses(self, import: &str) -> Option<String> {
        let (interface, version) = import.split_once('@').unwrap_or((import, ""));
        let package = interface.split_once('/').map_or(interface, |(p, _)| p);
        let provided = &contract().worlds[&self].imports;
        match provided.get(interface) {
            // Another weir:plugin version is reported on its own (it needs a rebuild).
            Some(_) if package == "weir:plugin" => None,
            Some(ours) if compatible(version, ours) => None,
            Some(ours) => Some(format!(
                "built for {interface}@{version}, but Weir provides {interface}@{ours} \
                 (any version it is compatible with links)"
            )),
            None => Some(
                match package {
                    "wasi:filesystem" => "plugins get no filesystem access",
                    "wasi:sockets" => "plugins get no network sockets",
                    "wasi:http" if World::Exporter.refuses(import).is_none() => {
                        "only exporter plugins may make HTTP requests"
                    }
                    _ => "Weir does not provide this interface",
                }
                .to_string()
                    + &format!(" (not in the `{}` world of wit/sandbox.wit)", self.hosted()),
            ),
        }
    }
}

/// Whether an import of `version` links to the provided `ours` (same major, and for 0.x the
/// same minor; an unversioned import links to anything).
fn compatible(version: &str, ours: &str) -> bool {
    let key = |v: &str| -> Vec<String> {
        let parts: Vec<String> = v.split('.').map(str::to_string).collect();
        match parts.first().map(String::as_str) {
            Some("0") => parts.into_iter().take(2).collect(),
            _ => parts.into_iter().take(1).collect(),
        }
    };
    version.is_empty() || key(version) == key(ours)
}

/// What each world exports and may import.
struct Contract {
    worlds: BTreeMap<World, Hosted>,
}

/// One `*-host` world, flattened.
struct Hosted {
    /// Exported function names.
    exports: Vec<String>,
    /// Imported interfaces (`wasi:io/streams`) and the version the WIT names.
    imports: BTreeMap<String, String>,
}

/// The contract, parsed once. The WIT is part of the binary and a unit test parses it, so a
/// failure here is a build defect, not bad input.
fn contract() -> &'static Contract {
    static CONTRACT: LazyLock<Contract> =
        LazyLock::new(|| parse().unwrap_or_else(|e| panic!("the embedded wit/ is invalid: {e:#}")));
    &CONTRACT
}

fn group(files: &[(&str, &str)]) -> anyhow::Result<wit_parser::UnresolvedPackageGroup> {
    let mut map = SourceMap::new();
    for (path, text) in files {
        map.push_str(path, *text);
    }
    map.parse().map_err(|(_, e)| anyhow::anyhow!("{e}"))
}

/// The embedded WIT resolved, and the id of `weir:plugin`.
fn resolve() -> anyhow::Result<(Resolve, wit_parser::PackageId)> {
    let mut resolve = Resolve::new();
    let deps = DEPS
        .iter()
        .map(|file| group(std::slice::from_ref(file)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let package = resolve.push_groups(group(&PACKAGE)?, deps)?;
    Ok((resolve, package))
}

fn parse() -> anyhow::Result<Contract> {
    let (resolve, package) = resolve()?;
    let mut worlds = BTreeMap::new();
    for world in World::ALL {
        let id = resolve.select_world(&[package], Some(world.hosted()))?;
        let w = &resolve.worlds[id];
        let mut exports: Vec<String> = w
            .exports
            .iter()
            .filter(|(_, item)| matches!(item, WorldItem::Function(_)))
            .map(|(key, _)| resolve.name_world_key(key))
            .collect();
        exports.sort();
        let imports = w
            .imports
            .iter()
            .filter_map(|(key, _)| match key {
                WorldKey::Interface(id) => resolve.id_of(*id),
                WorldKey::Name(_) => None,
            })
            .map(|name| match name.split_once('@') {
                Some((i, v)) => (i.to_string(), v.to_string()),
                None => (name, String::new()),
            })
            .collect();
        worlds.insert(world, Hosted { exports, imports });
    }
    Ok(Contract { worlds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worlds_come_from_the_wit() {
        assert_eq!(World::Processor.exports(), ["init", "process", "signals"]);
        assert_eq!(World::Sampler.exports(), ["evaluate", "init"]);
        assert_eq!(World::Exporter.exports(), ["init", "send-batch"]);
        for world in World::ALL {
            let imports = &contract().worlds[&world].imports;
            for ours in [
                "weir:plugin/telemetry",
                "weir:plugin/log",
                "wasi:io/streams",
            ] {
                assert!(
                    imports.contains_key(ours),
                    "{world:?} lacks {ours}: {imports:?}"
                );
            }
        }
    }

    /// A component of each `*-host` world that imports everything the world allows and exports
    /// what it needs passes every load check and links against the host: the worlds promise
    /// nothing the host does not provide.
    #[test]
    fn the_host_links_everything_the_hosted_worlds_allow() {
        let (resolve, package) = resolve().expect("wit/ resolves");
        link_everything(&resolve, package);
    }

    /// Plugins built against weir:plugin@0.1.0 (before the host kernels) and 0.1.1 (before
    /// `set-attribute-values`) still link: the contract of each release, with every import its
    /// worlds allowed, against this host.
    #[test]
    fn plugins_built_against_older_0_1_releases_still_link() {
        for (version, old) in [
            ("0.1.0", include_str!("../testdata/plugin-0.1.0.wit")),
            ("0.1.1", include_str!("../testdata/plugin-0.1.1.wit")),
        ] {
            assert!(old.contains(&format!("package weir:plugin@{version};")));
            let mut resolve = Resolve::new();
            let deps = DEPS
                .iter()
                .map(|file| group(std::slice::from_ref(file)))
                .collect::<anyhow::Result<Vec<_>>>()
                .expect("deps");
            let old = group(&[("wit/plugin.wit", old), PACKAGE[1]]).expect(version);
            let package = resolve.push_groups(old, deps).expect(version);
            link_everything(&resolve, package);
        }
    }

    fn link_everything(resolve: &Resolve, package: wit_parser::PackageId) {
        use wit_parser::{LiftLowerAbi, ManglingAndAbi};
        let engine = crate::WasmEngine::new(&crate::EngineSettings::default()).expect("engine");
        for world in World::ALL {
            let id = resolve
                .select_world(&[package], Some(world.hosted()))
                .expect("world");
            let abi = ManglingAndAbi::Legacy(LiftLowerAbi::Sync);
            let mut module = wit_component::dummy_module(resolve, id, abi);
            wit_component::embed_component_metadata(
                &mut module,
                resolve,
                id,
                wit_component::StringEncoding::UTF8,
            )
            .expect("metadata");
            let component = wit_component::ComponentEncoder::default()
                .module(&module)
                .and_then(|e| e.validate(true).encode())
                .expect("a component of the world");
            let settings = crate::PluginSettings::default();
            let linked = crate::plugin::prepare(
                &engine,
                ("everything", "test", &component),
                &settings,
                world,
                Ok,
            );
            if let Err(e) = linked {
                panic!("{}: {e}", world.hosted());
            }
        }
    }

    #[test]
    fn imports_are_judged_by_the_hosted_worlds() {
        let p = World::Processor;
        assert_eq!(p.refuses("wasi:clocks/wall-clock@0.2.6"), None);
        assert_eq!(p.refuses("wasi:cli/environment@0.2.0"), None);
        assert_eq!(p.refuses("weir:plugin/telemetry@0.0.9"), None);
        let http = p
            .refuses("wasi:http/outgoing-handler@0.2.6")
            .unwrap_or_default();
        assert!(http.starts_with("only exporter plugins"), "{http}");
        assert_eq!(
            World::Exporter.refuses("wasi:http/outgoing-handler@0.2.6"),
            None
        );
        let files = World::Exporter
            .refuses("wasi:filesystem/preopens@0.2.0")
            .unwrap_or_default();
        assert!(files.starts_with("plugins get no filesystem"), "{files}");
        let sockets = p.refuses("wasi:sockets/tcp@0.2.6").unwrap_or_default();
        assert!(
            sockets.starts_with("plugins get no network sockets"),
            "{sockets}"
        );
        let newer = p.refuses("wasi:io/streams@0.3.0").unwrap_or_default();
        assert!(
            newer.contains("Weir provides wasi:io/streams@0.2.12"),
            "{newer}"
        );
        let unknown = p.refuses("acme:db/query").unwrap_or_default();
        assert!(unknown.contains("`processor-host` world"), "{unknown}");
    }
}
