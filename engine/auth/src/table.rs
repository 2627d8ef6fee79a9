//! The credentials files: parsing, and lookups that do not leak through timing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::{AuthError, Refused, Tenant, sha256};

/// Loaded credentials.
pub(crate) enum Table {
    /// SHA-256 of each token, with its tenant.
    Bearer(Vec<([u8; 32], Arc<str>)>),
    /// bcrypt hash by user.
    Basic(HashMap<String, String>),
}

/// `tokens.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

/// One `[[tokens]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    /// Who sends with it.
    tenant: String,
    /// The token itself.
    token: Option<String>,
    /// Or its SHA-256, hex (`printf %s "$TOKEN" | sha256sum`), to keep the file free of secrets.
    token_sha256: Option<String>,
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, AuthError> {
    std::fs::read(path).map_err(|e| AuthError {
        path: path.display().to_string(),
        problem: format!("cannot read: {e}"),
    })
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Table {
    /// Parses a tokens file (`basic == false`) or an htpasswd file.
    pub(crate) fn parse(path: &Path, bytes: &[u8], basic: bool) -> Result<Table, AuthError> {
        let err = |problem: String| AuthError {
            path: path.display().to_string(),
            problem,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| err("is not UTF-8 text".into()))?;
        if basic {
            let mut users = HashMap::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (user, hash) = line
                    .split_once(':')
                    .ok_or_else(|| err(format!("line {}: expected `user:hash`", n + 1)))?;
                if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
                    return Err(err(format!(
                        "line {}: user {user:?} has a hash that is not bcrypt; create entries with `htpasswd -B`",
                        n + 1
                    )));
                }
                users.insert(user.to_string(), hash.to_string());
            }
            if users.is_empty() {
                return Err(err("has no users: nobody could authenticate".into()));
            }
            return Ok(Table::Basic(users));
        }
        // Only the position and the parser's message: its full text quotes the line, which
        // may hold a token.
        let file: TokensFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            err(format!("line {line}: {}", e.message()))
        })?;
        let mut tokens = Vec::new();
        for (i, t) in file.tokens.into_iter().enumerate() {
            let at = |what: &str| err(format!("tokens[{i}] (tenant {:?}): {what}", t.tenant));
            if t.tenant.trim().is_empty() {
                return Err(err(format!("tokens[{i}]: `tenant` must not be empty")));
            }
            let hash = match (&t.token, &t.token_sha256) {
                (Some(tok), None) if !tok.trim().is_empty() => sha256(tok.trim().as_bytes()),
                (Some(_), None) => return Err(at("`token` must not be empty")),
                (None, Some(h)) => {
                    hex32(h).ok_or_else(|| at("`token_sha256` must be 64 hex digits"))?
                }
                _ => return Err(at("give exactly one of `token` and `token_sha256`")),
            };
            if let Some((_, other)) = tokens.iter().find(|(h, _)| *h == hash) {
                return Err(at(&format!(
                    "the same token as tenant {other:?}: each token must name one tenant"
                )));
            }
            tokens.push((hash, Arc::from(t.tenant.as_str())));
        }
        if tokens.is_empty() {
            return Err(err("has no [[tokens]]: nobody could authenticate".into()));
        }
        Ok(Table::Bearer(tokens))
    }

    /// The tenant of the token with SHA-256 `presented`. Every entry is compared, in constant
    /// time, whatever matches.
    pub(crate) fn bearer(&self, presented: &[u8; 32]) -> Result<Tenant, Refused> {
        let Table::Bearer(tokens) = self else {
            return Err(Refused::Invalid);
        };
        let mut found = None;
        for (hash, tenant) in tokens {
            if bool::from(hash[..].ct_eq(&presented[..])) {
                found = Some(tenant.clone());
            }
        }
        found.map(Tenant).ok_or(Refused::Invalid)
    }

    /// The bcrypt hash of `user`.
    pub(crate) fn bcrypt_hash(&self, user: &str) -> Result<String, Refused> {
        match self {
            Table::Basic(users) => users.get(user).cloned().ok_or(Refused::Invalid),
            Table::Bearer(_) => Err(Refused::Invalid),
        }
    }
}

/// `base64(user:password)` → (user, password).
pub(crate) fn decode_basic(credential: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(credential)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}
