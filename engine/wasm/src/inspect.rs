//! `weir plugin check`: what a component file is to Weir — which plugin world(s) it implements,
//! against which version of `weir:plugin`, and what it imports (the capabilities it asks for),
//! each judged against its world in `wit/sandbox.wit` (see [`World::refuses`]).

use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use crate::contract::World;
use crate::engine::WasmEngine;

/// The `weir:plugin` package version this build provides, from `wit/plugin.wit`.
pub fn wit_version() -> &'static str {
    const WIT: &str = include_str!("../../../wit/plugin.wit");
    WIT.lines()
        .find_map(|l| l.trim().strip_prefix("package weir:plugin@"))
        .map_or("?", |v| v.trim_end_matches(';'))
}

/// Why a plugin built against `weir:plugin@{theirs}` does not load on this Weir (`ours`), or
/// `None` if it does: the same `0.x` minor (or the same major from 1.0 on) at a version no
/// newer than ours. Newer patch versions may call functions this Weir lacks.
pub fn version_problem(theirs: &str, ours: &str) -> Option<String> {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let parts: Vec<u64> = v
            .split('.')
            .map(str::parse::<u64>)
            .collect::<Result<_, _>>()
            .ok()?;
        match parts[..] {
            [a, b, c] => Some((a, b, c)),
            _ => None,
        }
    };
    let rebuild = || {
        Some(format!(
            "it was built against weir:plugin@{theirs}, but this Weir provides weir:plugin@{ours}: rebuild it against this wit/"
        ))
    };
    let (Some(t), Some(o)) = (parse(theirs), parse(ours)) else {
        return if theirs == ours { None } else { rebuild() };
    };
    // Semver lines: 1.x.y by major, 0.x.y by minor, 0.0.z only itself (as wasmtime links).
    let line = |v: (u64, u64, u64)| match v {
        (0, 0, z) => (0, 0, z),
        (0, y, _) => (0, y, 0),
        (x, _, _) => (x, 0, 0),
    };
    if line(t) != line(o) {
        rebuild()
    } else if t > o {
        Some(format!(
            "it was built against weir:plugin@{theirs}, newer than this Weir's weir:plugin@{ours}: upgrade Weir, or rebuild the plugin against this wit/"
        ))
    } else {
        None
    }
}

/// How Weir treats one import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Always provided.
    Granted,
    /// Provided, but empty or frozen unless the plugin's `grants` say otherwise.
    Restricted(&'static str),
    /// Refused: the plugin does not load.
    Refused(String),
}

/// One import of a component.
#[derive(Debug, Clone)]
pub struct Import {
    /// The interface, e.g. `wasi:clocks/wall-clock@0.2.6`.
    pub name: String,
    /// What Weir does with it.
    pub access: Access,
}

/// What a component is to Weir.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The plugin worlds whose exports it has (`processor`, `sampler`).
    pub worlds: Vec<&'static str>,
    /// The `weir:plugin` versions its imports name.
    pub wit_versions: Vec<String>,
    /// Its exports.
    pub exports: Vec<String>,
    /// Its imports (capabilities), in order.
    pub imports: Vec<Import>,
}

/// What Weir grants import `name` of a component of `world`.
fn access(name: &str, world: World) -> Access {
    if let Some(why) = world.refuses(name) {
        return Access::Refused(why);
    }
    let interface = name.split('@').next().unwrap_or(name);
    if interface.starts_with("wasi:http/") {
        return Access::Restricted("only to the hosts in the exporter's allowed_hosts");
    }
    match interface {
        "wasi:clocks/wall-clock" | "wasi:clocks/monotonic-clock" => {
            Access::Restricted("reads zero unless the config has grants = { clocks = true }")
        }
        "wasi:cli/environment" => {
            Access::Restricted("empty unless the config lists variables in grants.env")
        }
        _ => Access::Granted,
    }
}

/// Reads a component file's worlds, version and imports. `Err` when it is not a component at
/// all (not WebAssembly, a core module, or it does not compile).
pub fn inspect(engine: &WasmEngine, bytes: &[u8]) -> Result<Inspection, String> {
    if bytes.get(..4) != Some(b"\0asm") {
        return Err("not a WebAssembly file (it does not start with \\0asm)".into());
    }
    if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
        return Err(
            "a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it \
             with `wasm-tools component new`)"
                .into(),
        );
    }
    let component =
        Component::new(engine.engine(), bytes).map_err(|e| format!("cannot compile: {e:#}"))?;
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine.engine())
        .map(|(n, _)| n.to_string())
        .collect();
    let found: Vec<World> = World::ALL
        .into_iter()
        .filter(|w| w.exports().iter().all(|n| exports.contains(n)))
        .collect();
    // Imports are judged by the world it implements (the most permissive, if several; a
    // processor's rules when it implements none, to say what it would be refused as one).
    let world = found.last().copied().unwrap_or(World::Processor);
    let worlds: Vec<&'static str> = found.iter().map(|w| w.name()).collect();
    let imports: Vec<Import> = ty
        .imports(engine.engine())
        .filter(|(_, item)| !matches!(item.ty, ComponentItem::Type(_) | ComponentItem::Resource(_)))
        .map(|(name, _)| Import {
            name: name.to_string(),
            access: access(name, world),
        })
        .collect();
    let mut wit_versions: Vec<String> = imports
        .iter()
        .filter(|i| i.name.starts_with("weir:plugin/"))
        .filter_map(|i| i.name.split_once('@').map(|(_, v)| v.to_string()))
        .collect();
    wit_versions.sort();
    wit_versions.dedup();
    Ok(Inspection {
        worlds,
        wit_versions,
        exports,
        imports,
    })
}

impl Inspection {
    /// Why Weir would not load it; empty when it would.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.worlds.is_empty() {
            let looks = if self.exports.iter().any(|e| e.starts_with("wasi:cli/run")) {
                " It looks like a WASI command (it exports wasi:cli/run)."
            } else {
                ""
            };
            let needed: Vec<String> = World::ALL
                .iter()
                .map(|w| format!("{}: {}", w.name(), w.exports().join(", ")))
                .collect();
            out.push(format!(
                "it implements none of Weir's plugin worlds ({}); it exports: {}.{looks} Build it \
                 against a world of wit/.",
                needed.join("; "),
                if self.exports.is_empty() {
                    "nothing".to_string()
                } else {
                    self.exports.join(", ")
                }
            ));
        }
        let ours = wit_version();
        for v in &self.wit_versions {
            if let Some(problem) = version_problem(v, ours) {
                out.push(problem);
            }
        }
        for i in &self.imports {
            if let Access::Refused(why) = &i.access {
                out.push(format!("it imports `{}`: {why}", i.name));
            }
        }
        out
    }

    /// A human-readable summary.
    pub fn render(&self, file: &str) -> String {
        let what = if self.worlds.is_empty() {
            "a component, but not a Weir plugin".to_string()
        } else {
            let version = self
                .wit_versions
                .first()
                .map_or_else(|| wit_version().to_string(), Clone::clone);
            format!(
                "a weir:plugin@{version} {} component",
                self.worlds.join(" and ")
            )
        };
        let mut out = format!(
            "{file}: {what}\nexports: {}\nimports:\n",
            self.exports.join(", ")
        );
        let width = self.imports.iter().map(|i| i.name.len()).max().unwrap_or(0);
        for i in &self.imports {
            let verdict = match &i.access {
                Access::Granted => "granted".to_string(),
                Access::Restricted(how) => format!("granted, {how}"),
                Access::Refused(why) => format!("REFUSED: {why}"),
            };
            out.push_str(&format!("  {:<width$}  {verdict}\n", i.name));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_patch_versions_of_the_contract_load_and_others_do_not() {
        assert_eq!(version_problem("0.1.0", "0.1.2"), None);
        assert_eq!(version_problem("0.1.1", "0.1.2"), None);
        assert_eq!(version_problem("0.1.2", "0.1.2"), None);
        let newer = version_problem("0.1.3", "0.1.2").unwrap_or_default();
        assert!(newer.contains("newer than this Weir's"), "{newer}");
        let other = version_problem("0.2.0", "0.1.2").unwrap_or_default();
        assert!(other.contains("rebuild it"), "{other}");
        assert!(version_problem("0.0.9", "0.1.2").is_some());
        assert_eq!(version_problem("1.0.0", "1.2.0"), None);
        assert!(version_problem("garbage", "0.1.2").is_some());
        assert!(version_problem("0.1.2.9", "0.1.2").is_some());
        assert!(
            version_problem("0.0.1", "0.0.2").is_some(),
            "0.0.z links exactly"
        );
    }

    #[test]
    fn another_wit_version_is_a_problem() {
        let found = Inspection {
            worlds: vec!["processor"],
            wit_versions: vec!["0.0.9".into()],
            exports: vec!["init".into(), "signals".into(), "process".into()],
            imports: vec![Import {
                name: "weir:plugin/telemetry@0.0.9".into(),
                access: access("weir:plugin/telemetry@0.0.9", World::Processor),
            }],
        };
        let problems = found.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("built against weir:plugin@0.0.9"),
            "{problems:?}"
        );
        assert_eq!(wit_version(), "0.1.2");
    }

    #[test]
    fn clocks_and_environment_are_restricted_sockets_refused() {
        assert!(matches!(
            access("wasi:clocks/wall-clock@0.2.6", World::Processor),
            Access::Restricted(_)
        ));
        assert!(matches!(
            access("wasi:sockets/tcp@0.2.6", World::Processor),
            Access::Refused(_)
        ));
        assert_eq!(
            access("wasi:io/streams@0.2.6", World::Processor),
            Access::Granted
        );
    }
}
