//! The TOML Weir gets: tables with comment lines above them and above keys, written by hand
//! so that the comments sit where they explain something (the `toml` crate renders values).

use toml::Value;

/// One `[header]` (or `[[header]]`) table of the output.
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// The dotted header, keys already quoted where needed.
    pub header: String,
    /// `[[header]]` rather than `[header]`.
    pub array: bool,
    /// Comment lines above the header (without `# `).
    pub notes: Vec<String>,
    /// `key = value` lines, each with optional comment lines above it.
    pub keys: Vec<(String, Value, Vec<String>)>,
}

impl Table {
    /// A `[header]` table.
    pub fn new(header: String) -> Table {
        Table {
            header,
            ..Table::default()
        }
    }

    /// Adds `key = value`.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Table {
        self.keys.push((key.to_string(), value.into(), Vec::new()));
        self
    }

    /// Adds `key = value` with a comment above it.
    pub fn set_noted(&mut self, key: &str, value: impl Into<Value>, note: String) -> &mut Table {
        self.keys.push((key.to_string(), value.into(), vec![note]));
        self
    }

    /// Adds a comment line above the header.
    pub fn note(&mut self, line: impl Into<String>) -> &mut Table {
        self.notes.push(line.into());
        self
    }
}

/// `key` as a TOML key: bare when it can be, quoted otherwise (`"otlp/backend"`).
pub(crate) fn key(k: &str) -> String {
    toml_writer::ToTomlKey::to_toml_key(k)
}

/// Renders tables and free comment blocks in order.
pub(crate) fn render(items: &[Item]) -> String {
    let mut out = String::new();
    for item in items {
        match item {
            Item::Comment(lines) => {
                for l in lines {
                    push_comment(&mut out, l);
                }
                out.push('\n');
            }
            Item::Table(t) => {
                for l in &t.notes {
                    push_comment(&mut out, l);
                }
                if t.array {
                    out.push_str(&format!("[[{}]]\n", t.header));
                } else {
                    out.push_str(&format!("[{}]\n", t.header));
                }
                let mut sub = Vec::new();
                for (k, v, notes) in &t.keys {
                    for l in notes {
                        push_comment(&mut out, l);
                    }
                    match v {
                        // A plugin's config reads better as its own table.
                        Value::Table(c) if k == "config" && !t.array && !c.is_empty() => {
                            sub.push(c);
                        }
                        _ => out.push_str(&format!("{} = {}\n", key(k), value(v))),
                    }
                }
                for c in sub {
                    out.push_str(&format!("[{}.config]\n", t.header));
                    for (k, v) in c {
                        out.push_str(&format!("{} = {}\n", key(k), value(v)));
                    }
                }
                out.push('\n');
            }
        }
    }
    out
}

/// A value on one line, except lists of tables, which get one table per line.
fn value(v: &Value) -> String {
    match v {
        Value::Array(a) if a.len() > 1 && a.iter().all(Value::is_table) => {
            let mut s = String::from("[\n");
            for item in a {
                s.push_str(&format!("  {item},\n"));
            }
            s.push(']');
            s
        }
        other => other.to_string(),
    }
}

fn push_comment(out: &mut String, line: &str) {
    if line.starts_with('#') {
        out.push_str(line);
    } else if line.is_empty() {
        out.push('#');
    } else {
        out.push_str("# ");
        out.push_str(line);
    }
    out.push('\n');
}

/// A piece of the output.
#[derive(Debug)]
pub(crate) enum Item {
    /// Comment lines (a section heading, something not converted).
    Comment(Vec<String>),
    /// A table.
    Table(Table),
}
