//! Who may send data to a receiver, and which tenant they are.
//!
//! - `bearer_tokens_file`: a TOML file of `[[tokens]]` with a `tenant` and a `token` (or its
//!   `token_sha256`). Tokens are kept only as SHA-256 hashes and a presented token is compared
//!   against every one in constant time.
//! - `basic = { htpasswd_file }`: `user:$2y$…` lines (bcrypt); the user is the tenant. bcrypt is
//!   slow on purpose, so a verified `user:password` is remembered (as a hash) until the file
//!   changes, and verification runs off the async workers.
//!
//! The file is checked for changes every `reload_interval`; a file that no longer loads keeps
//! the previous credentials in force (logged). Clients send `Authorization: Bearer <token>` or
//! `Authorization: Basic <base64(user:password)>` (gRPC: the same metadata key).

mod table;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use weir_config::AuthConfig;
use weir_core::telemetry::AuthMetrics;

use crate::table::Table;

/// The authenticated tenant of a request, put into its extensions for the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub Arc<str>);

/// A credentials file that could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct AuthError {
    /// The file.
    pub path: String,
    /// What is wrong (with a line number where there is one).
    pub problem: String,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No `Authorization` header of the expected scheme.
    Missing,
    /// Credentials that do not match.
    Invalid,
}

impl Refused {
    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Refused::Missing => "missing credentials: send an Authorization header",
            Refused::Invalid => "invalid credentials",
        }
    }
}

/// Verified basic credentials are remembered up to this many (then forgotten all at once).
const BASIC_CACHE: usize = 10_000;

struct Inner {
    path: PathBuf,
    basic: bool,
    reload_interval: Duration,
    listener: String,
    metrics: AuthMetrics,
    current: RwLock<(Table, u64)>,
    /// SHA-256 of `user:password` pairs bcrypt verified, by tenant; cleared on reload.
    verified: Mutex<HashMap<[u8; 32], Arc<str>>>,
    /// Bumped by every reload that changes the credentials.
    generation: AtomicU64,
    /// Held by a reload from start to end.
    reloading: Mutex<()>,
    /// Concurrent bcrypt checks.
    bcrypt_slots: tokio::sync::Semaphore,
}

/// A bcrypt hash (cost 10, the htpasswd default) no password matches, checked for unknown users.
fn unknown_user_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        bcrypt::hash(format!("{:?}", std::time::SystemTime::now()), 10).unwrap_or_default()
    })
}

/// A receiver's credential check. Clones share the credentials.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("path", &self.inner.path)
            .field("basic", &self.inner.basic)
            .finish_non_exhaustive()
    }
}

fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl Authenticator {
    /// Loads the credentials file of `cfg` (resolved with `resolve`) for `listener`.
    pub fn load(
        cfg: &AuthConfig,
        resolve: &dyn Fn(&str) -> PathBuf,
        listener: &str,
        metrics: AuthMetrics,
    ) -> Result<Authenticator, AuthError> {
        let (path, basic) = match (&cfg.bearer_tokens_file, &cfg.basic) {
            (Some(f), _) => (resolve(f.get_ref()), false),
            (None, Some(b)) => (resolve(b.get_ref().htpasswd_file.get_ref()), true),
            (None, None) => {
                return Err(AuthError {
                    path: String::new(),
                    problem: "no credentials file configured".into(),
                });
            }
        };
        let bytes = table::read(&path)?;
        let t = Table::parse(&path, &bytes, basic)?;
        Ok(Authenticator {
            inner: Arc::new(Inner {
                path,
                basic,
                reload_interval: cfg.reload_interval.0,
                listener: listener.to_string(),
                metrics,
                current: RwLock::new((t, fingerprint(&bytes))),
                verified: Mutex::default(),
                generation: AtomicU64::new(0),
                reloading: Mutex::new(()),
                bcrypt_slots: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, usize::from),
                ),
            }),
        })
    }

    /// The `WWW-Authenticate` challenge of a 401.
    pub fn challenge(&self) -> &'static str {
        if self.inner.basic {
            "Basic realm=\"weir\""
        } else {
            "Bearer"
        }
    }

    /// Checks a request's headers; the tenant, or why it is refused (counted).
    pub async fn check(&self, headers: &http::HeaderMap) -> Result<Tenant, Refused> {
        let outcome = self.verify(headers).await;
        match outcome {
            Err(Refused::Missing) => {
                self.inner.metrics.missing.inc();
            }
            Err(Refused::Invalid) => {
                self.inner.metrics.invalid.inc();
            }
            Ok(_) => {}
        }
        outcome
    }

    async fn verify(&self, headers: &http::HeaderMap) -> Result<Tenant, Refused> {
        let scheme = if self.inner.basic { "basic" } else { "bearer" };
        let value = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refused::Missing)?;
        let (given, rest) = value.trim().split_once(' ').ok_or(Refused::Missing)?;
        if !given.eq_ignore_ascii_case(scheme) {
            return Err(Refused::Missing);
        }
        let credential = rest.trim();
        if !self.inner.basic {
            return self.read_table(|t| t.bearer(&sha256(credential.as_bytes())));
        }
        let (user, password) = table::decode_basic(credential).ok_or(Refused::Invalid)?;
        let key = sha256(format!("{user}:{password}").as_bytes());
        if let Some(t) = self.verified().get(&key) {
            return Ok(Tenant(t.clone()));
        }
        // The credentials this check is against; a reload in between makes its result stale.
        let generation = self.inner.generation.load(Ordering::Acquire);
        // An unknown user costs a bcrypt check too, so timing does not tell which users exist.
        let hash = self.read_table(|t| Ok(t.bcrypt_hash(&user).ok()))?;
        let known = hash.is_some();
        let ok = {
            // At most one bcrypt per core at a time: a flood of wrong passwords queues here
            // instead of taking every core.
            let _permit = self.inner.bcrypt_slots.acquire().await;
            tokio::task::spawn_blocking(move || {
                let hash = hash.as_deref().unwrap_or_else(|| unknown_user_hash());
                bcrypt::verify(password, hash).unwrap_or(false)
            })
            .await
            .unwrap_or(false)
        };
        if !(ok && known) {
            return Err(Refused::Invalid);
        }
        let tenant: Arc<str> = user.into();
        let mut v = self.verified();
        // Remembered only if the credentials did not change meanwhile (a reload bumps the
        // generation, then clears what was remembered).
        if self.inner.generation.load(Ordering::Acquire) == generation {
            if v.len() >= BASIC_CACHE {
                v.clear();
            }
            v.insert(key, tenant.clone());
        }
        Ok(Tenant(tenant))
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<str>>> {
        self.inner
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_table<T>(&self, f: impl FnOnce(&Table) -> Result<T, Refused>) -> Result<T, Refused> {
        let guard = self
            .inner
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard.0)
    }

    /// Re-reads the file: `Ok(true)` if it changed and loaded (the new credentials apply from
    /// the next request), `Err` if it changed but does not load (the old ones stay; logged).
    pub fn reload(&self) -> Result<bool, AuthError> {
        let inner = &self.inner;
        // One reload at a time (the watch task and a config reload may race).
        let _one = inner
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let attempt = table::read(&inner.path).and_then(|bytes| {
            let fp = fingerprint(&bytes);
            let same = inner
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .1
                == fp;
            if same {
                return Ok(None);
            }
            Table::parse(&inner.path, &bytes, inner.basic).map(|t| Some((t, fp)))
        });
        match attempt {
            Ok(None) => Ok(false),
            Ok(Some(next)) => {
                *inner
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
                inner.generation.fetch_add(1, Ordering::AcqRel);
                self.verified().clear();
                inner.metrics.reloaded.inc();
                tracing::info!(listener = %inner.listener, file = %inner.path.display(), "credentials reloaded");
                Ok(true)
            }
            Err(e) => {
                inner.metrics.reload_failed.inc();
                tracing::error!(listener = %inner.listener, error = %e,
                    "credentials file changed but does not load; the previous credentials stay in force");
                Err(e)
            }
        }
    }

    /// Checks the file every `reload_interval` (if not zero) while any clone lives.
    pub fn watch(&self) {
        let every = self.inner.reload_interval;
        if every.is_zero() {
            return;
        }
        weir_core::poll::while_alive(every, Arc::downgrade(&self.inner), |inner| {
            // Failures are logged inside; the watch goes on.
            let _ = Authenticator { inner }.reload();
        });
    }
}

#[cfg(test)]
mod tests;
