//! `weir plugin new`: a ready-to-build plugin project from templates shipped inside the binary,
//! with a README, a sample fixture and the one command that tests it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::args::{Kind, Lang};

/// A template file: where it goes in the project and its text.
type File = (&'static str, &'static str);

const RUST_COMMON: [File; 3] = [
    (
        "Cargo.toml",
        include_str!("../templates/rust/Cargo.toml.tmpl"),
    ),
    (
        ".cargo/config.toml",
        include_str!("../templates/rust/cargo-config.toml.tmpl"),
    ),
    (
        "README.md",
        include_str!("../templates/rust/README.md.tmpl"),
    ),
];

const RUST_PROCESSOR: [File; 4] = [
    (
        "src/lib.rs",
        include_str!("../templates/rust/processor.rs.tmpl"),
    ),
    (
        "fixtures/in.json",
        include_str!("../templates/rust/fixtures/processor-in.json"),
    ),
    (
        "fixtures/config.json",
        include_str!("../templates/rust/fixtures/processor-config.json"),
    ),
    (
        "fixtures/out.json",
        include_str!("../templates/rust/fixtures/processor-out.json"),
    ),
];

const RUST_SAMPLER: [File; 4] = [
    (
        "src/lib.rs",
        include_str!("../templates/rust/sampler.rs.tmpl"),
    ),
    (
        "fixtures/in.json",
        include_str!("../templates/rust/fixtures/sampler-in.json"),
    ),
    (
        "fixtures/config.json",
        include_str!("../templates/rust/fixtures/sampler-config.json"),
    ),
    (
        "fixtures/out.json",
        include_str!("../templates/rust/fixtures/sampler-out.json"),
    ),
];

/// Weir's plugin SDK in the source tree this binary was built from, if it is still there.
fn default_sdk() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk");
    p.join("Cargo.toml")
        .is_file()
        .then(|| p.canonicalize().ok())
        .flatten()
}

/// Creates the project; returns its directory.
pub(crate) fn create(
    name: &str,
    lang: Lang,
    kind: Kind,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "plugin name {name:?}: use lower-case letters, digits, - and _, starting with a letter"
        );
    }
    if lang != Lang::Rust {
        bail!(
            "--lang {}: this Weir has templates for rust only so far (see docs/plugins.md for Python plugins)",
            lang.as_str()
        );
    }
    let files: Vec<File> = match kind {
        Kind::Processor => RUST_COMMON.iter().chain(&RUST_PROCESSOR).copied().collect(),
        Kind::Sampler => RUST_COMMON.iter().chain(&RUST_SAMPLER).copied().collect(),
        Kind::Exporter => bail!("--kind exporter: this Weir does not load exporter plugins yet"),
    };
    let sdk = match sdk {
        Some(p) => p
            .canonicalize()
            .with_context(|| format!("--sdk {}: not found", p.display()))?,
        None => default_sdk().context(
            "cannot find Weir's plugin SDK (plugins/sdk in Weir's source tree): pass --sdk PATH",
        )?,
    };
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "--sdk {}: no Cargo.toml there; point it at Weir's plugins/sdk",
            sdk.display()
        );
    }
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() && dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!("{} exists and is not empty", dir.display());
    }
    let file = name.replace('-', "_");
    let usage = match kind {
        Kind::Processor => format!(
            "```toml\n[processors.{name}]\nplugin = \"{}/target/wasm32-wasip2/release/{file}.wasm\"\nconfig = {{ environment = \"production\" }}\n```\n\nand `processors = [\"{name}\"]` in a pipeline.",
            dir.display()
        ),
        _ => format!(
            "```toml\n[[samplers.tail.policies]]\nname = \"{name}\"\nplugin = \"{}/target/wasm32-wasip2/release/{file}.wasm\"\nconfig = {{ values = [\"enterprise\"] }}\n```",
            dir.display()
        ),
    };
    let sdk_text = sdk.display().to_string();
    for (path, text) in files {
        let text = text
            .replace("{{name}}", name)
            .replace("{{file}}", &file)
            .replace("{{kind}}", kind.as_str())
            .replace("{{sdk}}", &sdk_text)
            .replace("{{usage}}", &usage);
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    Ok(dir)
}
