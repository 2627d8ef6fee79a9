//! `weir plugin new`: a ready-to-build plugin project from templates shipped inside the binary,
//! with a README, a sample fixture and the one command that tests it.
//!
//! The templates are the example plugins in `examples/plugins/<lang>-<kind>/`, which the test
//! suite builds and runs: a project is that example with its name replaced, plus the SDK files
//! and the WIT it builds against (symlinks in the source tree, real files in the project).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::args::{Kind, Lang};

/// A template file: where it goes in the project and its text.
type File = (&'static str, &'static str);

/// Includes `examples/plugins/<dir>/<path>` as a template file at `path`.
macro_rules! example {
    ($dir:literal, $path:literal) => {
        (
            $path,
            include_str!(concat!("../../../examples/plugins/", $dir, "/", $path)),
        )
    };
}

/// The fixtures every language shares for one kind.
macro_rules! fixtures {
    ($kind:literal) => {
        [
            (
                "fixtures/in.json",
                include_str!(concat!(
                    "../../../examples/plugins/fixtures/",
                    $kind,
                    "-in.json"
                )),
            ),
            (
                "fixtures/config.json",
                include_str!(concat!(
                    "../../../examples/plugins/fixtures/",
                    $kind,
                    "-config.json"
                )),
            ),
            (
                "fixtures/out.json",
                include_str!(concat!(
                    "../../../examples/plugins/fixtures/",
                    $kind,
                    "-out.json"
                )),
            ),
        ]
    };
}

/// The contract every non-Rust project builds against (Rust gets it through the SDK).
const WIT: File = ("wit/plugin.wit", include_str!("../../../wit/plugin.wit"));
const PYTHON_SDK: [File; 2] = [
    (
        "weir_plugin.py",
        include_str!("../../../plugins/python/weir_plugin.py"),
    ),
    (
        "_weir_host.py",
        include_str!("../../../plugins/python/_weir_host.py"),
    ),
];
const JS_SDK: File = (
    "weir-plugin.js",
    include_str!("../../../plugins/js/weir-plugin.js"),
);
const C_SDK: File = (
    "weir_json.h",
    include_str!("../../../plugins/c/weir_json.h"),
);
const README: &str = include_str!("../templates/README.md.tmpl");

/// One language and kind's template: the name the example uses, the example's own files (where
/// that name is replaced), and the files copied as they are (SDK, WIT, fixtures).
struct Template {
    example: &'static str,
    own: Vec<File>,
    shared: Vec<File>,
}

/// The template for one language and kind.
fn template(lang: Lang, kind: Kind) -> anyhow::Result<Template> {
    let own: Vec<File> = match (lang, kind) {
        (_, Kind::Exporter) => {
            bail!(
                "--kind exporter: there is no exporter template yet; start from plugins/otlp-http, a complete exporter in Rust (docs/plugins/exporters.md)"
            )
        }
        (Lang::Rust, Kind::Processor) => vec![
            example!("rust-processor", "Cargo.toml"),
            example!("rust-processor", ".cargo/config.toml"),
            example!("rust-processor", "src/lib.rs"),
        ],
        (Lang::Rust, Kind::Sampler) => vec![
            example!("rust-sampler", "Cargo.toml"),
            example!("rust-sampler", ".cargo/config.toml"),
            example!("rust-sampler", "src/lib.rs"),
        ],
        (Lang::Python, Kind::Processor) => vec![
            example!("python-processor", "app.py"),
            example!("python-processor", "build.sh"),
        ],
        (Lang::Python, Kind::Sampler) => vec![
            example!("python-sampler", "app.py"),
            example!("python-sampler", "build.sh"),
        ],
        (Lang::Js, Kind::Processor) => vec![
            example!("js-processor", "app.js"),
            example!("js-processor", "build.mjs"),
            example!("js-processor", "package.json"),
            example!("js-processor", "package-lock.json"),
        ],
        (Lang::Js, Kind::Sampler) => vec![
            example!("js-sampler", "app.js"),
            example!("js-sampler", "build.mjs"),
            example!("js-sampler", "package.json"),
            example!("js-sampler", "package-lock.json"),
        ],
        (Lang::C, Kind::Processor) => vec![
            example!("c-processor", "app.c"),
            example!("c-processor", "Makefile"),
        ],
        (Lang::C, Kind::Sampler) => vec![
            example!("c-sampler", "app.c"),
            example!("c-sampler", "Makefile"),
        ],
    };
    let mut shared: Vec<File> = match lang {
        Lang::Rust => vec![],
        Lang::Python => PYTHON_SDK.iter().copied().chain([WIT]).collect(),
        Lang::Js => vec![JS_SDK, WIT],
        Lang::C => vec![C_SDK, WIT],
    };
    let example = if kind == Kind::Processor {
        shared.extend(fixtures!("processor"));
        "env-mask"
    } else {
        shared.extend(fixtures!("sampler"));
        "tier-policy"
    };
    Ok(Template {
        example,
        own,
        shared,
    })
}

/// `text` with every `from` (the example's name, spelled with `-` or `_`) replaced by `to` (the
/// new name, spelled the same way), in one pass, so a new name that contains the example's is
/// not replaced again.
fn rename(text: &str, from: &str, to: &str) -> String {
    let (from_, to_) = (from.replace('-', "_"), to.replace('-', "_"));
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(from) {
            out.push_str(to);
            rest = after;
        } else if let Some(after) = rest.strip_prefix(from_.as_str()) {
            out.push_str(&to_);
            rest = after;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Weir's plugin SDK in the source tree this binary was built from, if it is still there.
fn default_sdk() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk");
    p.join("Cargo.toml")
        .is_file()
        .then(|| p.canonicalize().ok())
        .flatten()
}

/// The Rust SDK's path: `--sdk`, or the source tree's.
fn rust_sdk(sdk: Option<&Path>) -> anyhow::Result<PathBuf> {
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
    Ok(sdk)
}

/// The README's build section and the built file, per language.
fn build_text(lang: Lang, file: &str) -> (String, String) {
    match lang {
        Lang::Rust => (
            "The `wasm32-wasip2` target comes with `rustup target add wasm32-wasip2`.\n\n```sh\ncargo build --release\n```".into(),
            format!("target/wasm32-wasip2/release/{file}.wasm"),
        ),
        Lang::Python => (
            "Needs Python 3 with `venv`; `build.sh` installs componentize-py 0.25.1 from PyPI into\n~/.cache/weir on first use (or set `COMPONENTIZE_PY`). The SDK is `weir_plugin.py`.\n\n```sh\n./build.sh\n```".into(),
            format!("target/{file}.wasm"),
        ),
        Lang::Js => (
            "Needs Node.js 20 or later (tested with 20.20); `npm ci` installs the versions\n`package-lock.json` pins (componentize-js and esbuild). The SDK is `weir-plugin.js`.\n\n```sh\nnpm ci\nnpm run build\n```".into(),
            format!("target/{file}.wasm"),
        ),
        Lang::C => (
            "Needs clang 19 with wasi-libc (Debian: `apt-get install clang-19 lld-19\nlibclang-rt-19-dev-wasm32 wasi-libc python3-venv`). `make` takes wit-bindgen 0.63.0 and wasm-tools\n1.262.0 from PATH, or installs them once under ~/.cache/weir/c-tools (wit-bindgen with cargo, a\nfew minutes the first time). `weir_json.h` reads the config.\n\n```sh\nmake\n```".into(),
            format!("target/{file}.wasm"),
        ),
    }
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
    let template = template(lang, kind)?;
    let sdk = if lang == Lang::Rust {
        Some(rust_sdk(sdk)?)
    } else {
        None
    };
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() && dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!("{} exists and is not empty", dir.display());
    }
    let file = name.replace('-', "_");
    let (build, wasm) = build_text(lang, &file);
    let usage = match kind {
        Kind::Processor => format!(
            "```toml\n[processors.{name}]\nplugin = \"{}\"\nconfig = {{ environment = \"production\" }}\n```\n\nand `processors = [\"{name}\"]` in a pipeline.",
            dir.join(&wasm).display()
        ),
        _ => format!(
            "```toml\n[[samplers.tail.policies]]\nname = \"{name}\"\nplugin = \"{}\"\nconfig = {{ values = [\"enterprise\"] }}\n```",
            dir.join(&wasm).display()
        ),
    };
    let language = match lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
        Lang::Js => "JavaScript",
        Lang::C => "C",
    };
    let readme = README
        .replace("{{name}}", name)
        .replace("{{kind}}", kind.as_str())
        .replace("{{language}}", language)
        .replace("{{build}}", &build)
        .replace("{{wasm}}", &wasm)
        .replace("{{usage}}", &usage);
    // The Rust SDK's path, as a TOML string (quotes and backslashes escaped).
    let sdk_toml = sdk.map(|p| toml::Value::String(p.display().to_string()).to_string());
    let own = template.own.into_iter().map(|(path, text)| {
        let mut text = rename(text, template.example, name);
        if let Some(sdk) = &sdk_toml {
            text = text.replace("\"../../../plugins/sdk\"", sdk);
        }
        (path, text)
    });
    let shared = template.shared.into_iter().map(|(p, t)| (p, t.to_string()));
    for (path, text) in own.chain(shared).chain([("README.md", readme)]) {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
        if path.ends_with(".sh") {
            make_executable(&target)?;
        }
    }
    Ok(dir)
}

/// Sets the execute bits of a script.
fn make_executable(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
