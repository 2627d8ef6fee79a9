//! Config errors that point at a file, a line and a key.

use std::fmt;
use std::ops::Range;

/// One problem in a config file, located as precisely as the parser allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as the user gave it (or `<embedded default>`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The dotted key the problem is about, e.g. `exporters.backend.timeout`; may be empty.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read config: {error}")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O error; shown in the message, so not also a `source` (chains would print it twice).
        error: std::io::Error,
    },
    /// The file was read but is not a valid config; every problem found is listed.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// The individual problems (empty for a read error).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(d) => d,
        }
    }
}

/// The source text of one config file, able to turn byte offsets into lines and keys.
pub(crate) struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// A diagnostic at `span` about `key`.
    pub fn at(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let offset = span.start.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        Diagnostic {
            file: self.name.to_string(),
            line,
            column,
            key: key.into(),
            message: message.into(),
        }
    }

    /// A diagnostic for a TOML or serde error at `span`, naming the key by reading the table
    /// header above the offending line and the key on it.
    pub fn parse_error(&self, span: Option<Range<usize>>, message: &str) -> Diagnostic {
        let span = span.unwrap_or(0..0);
        let key = self.key_at(span.start);
        self.at(span, key, message.trim())
    }

    /// Best-effort dotted key for a byte offset: `[table]` header above plus `key =` on the line.
    fn key_at(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let line = self.text[line_start..line_end].trim();
        let header = |l: &str| -> Option<String> {
            let l = l.trim();
            let inner = l.strip_prefix("[[").or_else(|| l.strip_prefix('['))?;
            let end = inner.find(']')?;
            Some(inner[..end].trim().replace(['"', '\''], ""))
        };
        if let Some(h) = header(line) {
            return h;
        }
        if line.starts_with('[') {
            // A header the parser could not read: no key to name.
            return String::new();
        }
        let table = self.text[..line_start]
            .lines()
            .rev()
            .find_map(header)
            .unwrap_or_default();
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().replace(['"', '\''], ""))
            .unwrap_or_default();
        match (table.is_empty(), key.is_empty()) {
            (_, true) => table,
            (true, false) => key,
            (false, false) => format!("{table}.{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_column_and_key() {
        let text = "[admin]\nlisten = 1\n\n[exporters.a]\n  timeout = \"x\"\n";
        let src = Source {
            name: "w.toml",
            text,
        };
        let off = text.find("\"x\"").expect("present");
        let d = src.parse_error(Some(off..off + 3), "bad");
        assert_eq!(d.to_string(), "w.toml:5:13: exporters.a.timeout: bad");
    }
}
