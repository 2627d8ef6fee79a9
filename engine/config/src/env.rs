//! `${VAR}` expansion, as the Collector allows in config values.
//!
//! Forms: `${VAR}`, `${env:VAR}`, `${VAR:-default}`; `$$` is a literal `$`. Expansion happens on
//! the raw text before TOML parsing, so it is meant for use inside double-quoted strings: the value
//! is escaped for a TOML basic string, and line numbers stay those of the file.

use crate::error::{Diagnostic, Source};

/// Expands every reference in `src`, or lists each one that names an unset variable with no
/// default, or is malformed.
pub(crate) fn expand(
    src: &Source<'_>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<Diagnostic>> {
    let text = src.text;
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let at = text.len() - rest.len() + i;
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
            continue;
        }
        let Some(body) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let line_end = body.find(['\n', '"', '\'']).unwrap_or(body.len());
        let Some(end) = body[..line_end].find('}') else {
            errors.push(src.at(
                at..at,
                "",
                "unterminated `${` (write `$$` for a literal `$`)",
            ));
            out.push_str("${");
            rest = body;
            continue;
        };
        let inner = &body[..end];
        let inner = inner.strip_prefix("env:").unwrap_or(inner);
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            errors.push(src.at(
                at..at,
                "",
                format!("`${{{inner}}}` is not a valid environment variable reference"),
            ));
        } else {
            match lookup(name).or_else(|| default.map(str::to_string)) {
                Some(value) => out.push_str(&escape_basic(&value)),
                None => errors.push(src.at(
                    at..at,
                    "",
                    format!(
                        "environment variable {name} is not set (give a default with ${{{name}:-value}})"
                    ),
                )),
            }
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Escapes a value for a TOML basic (double-quoted) string, keeping it on one line.
fn escape_basic(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<String, Vec<String>> {
        let src = Source {
            name: "t.toml",
            text,
        };
        let lookup = |n: &str| match n {
            "HOST" => Some("10.0.0.1".to_string()),
            "QUOTE" => Some("a\"b".to_string()),
            _ => None,
        };
        expand(&src, &lookup).map_err(|d| d.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn expands_forms_and_escapes() {
        assert_eq!(
            run(r#"a = "${HOST}:1 ${env:HOST} ${NOPE:-x} $$ $y ${QUOTE}""#),
            Ok(r#"a = "10.0.0.1:1 10.0.0.1 x $ $y a\"b""#.to_string())
        );
    }

    #[test]
    fn reports_unset_and_malformed() {
        let errs = run("a = 1\nb = \"${NOPE}\"\nc = \"${1x}\"\nd = \"${OPEN\"\ne = \"}\"")
            .expect_err("errors");
        assert_eq!(
            errs,
            vec![
                "t.toml:2:6: environment variable NOPE is not set (give a default with ${NOPE:-value})",
                "t.toml:3:6: `${1x}` is not a valid environment variable reference",
                "t.toml:4:6: unterminated `${` (write `$$` for a literal `$`)",
            ]
        );
    }
}
