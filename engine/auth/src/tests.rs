use std::path::PathBuf;

use base64::Engine;
use weir_config::{AuthConfig, Config};

use super::*;

/// An `auth` table as a receiver would have it, read through the real config parser.
fn auth_config(table: &str) -> AuthConfig {
    let text = format!(
        "[receivers.in]\ngrpc = \"127.0.0.1:0\"\nauth = {table}\n[exporters.d]\ntype = \"debug\"\n[pipelines.traces]\nreceivers = [\"in\"]\nexporters = [\"d\"]\n"
    );
    let c = Config::parse("t.toml", &text, &|_| None).expect("valid config");
    c.receivers["in"]
        .auth
        .clone()
        .expect("auth set")
        .into_inner()
}

fn headers(value: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        value.parse().expect("header value"),
    );
    h
}

fn load(dir: &tempfile::TempDir, table: &str) -> Result<Authenticator, AuthError> {
    load_counted(dir, table, &weir_core::telemetry::Telemetry::new())
}

/// [`load`], counting in `t`.
fn load_counted(
    dir: &tempfile::TempDir,
    table: &str,
    t: &weir_core::telemetry::Telemetry,
) -> Result<Authenticator, AuthError> {
    let cfg = auth_config(table);
    let base = dir.path().to_path_buf();
    let resolve = move |p: &str| -> PathBuf { base.join(p) };
    Authenticator::load(
        &cfg,
        &resolve,
        "receiver/in/grpc",
        t.auth("receiver/in/grpc"),
    )
}

/// The value of `weir_auth_credentials_reloads_total{result}` in `t`.
fn reloads(t: &weir_core::telemetry::Telemetry, result: &str) -> String {
    let text = t.render();
    text.lines()
        .find(|l| {
            l.starts_with("weir_auth_credentials_reloads_total{")
                && l.contains(&format!("result=\"{result}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("absent")
        .to_string()
}

#[tokio::test]
async fn bearer_tokens_name_tenants_and_refuse_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hashed = "b".repeat(0) + "secret-b";
    let sha: String = sha256(hashed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        dir.path().join("tokens.toml"),
        format!("[[tokens]]\ntenant = \"team-a\"\ntoken = \"secret-a\"\n[[tokens]]\ntenant = \"team-b\"\ntoken_sha256 = \"{sha}\"\n"),
    )
    .expect("write");
    let a = load(&dir, "{ bearer_tokens_file = \"tokens.toml\" }").expect("loads");
    assert_eq!(
        a.check(&headers("Bearer secret-a")).await,
        Ok(Tenant("team-a".into()))
    );
    assert_eq!(
        a.check(&headers("bearer  secret-b")).await,
        Ok(Tenant("team-b".into()))
    );
    assert_eq!(
        a.check(&headers("Bearer secret-c")).await,
        Err(Refused::Invalid)
    );
    assert_eq!(
        a.check(&headers("Basic c2VjcmV0LWE=")).await,
        Err(Refused::Missing)
    );
    assert_eq!(
        a.check(&http::HeaderMap::new()).await,
        Err(Refused::Missing)
    );
}

#[tokio::test]
async fn a_changed_tokens_file_applies_and_a_broken_one_keeps_the_old_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tokens.toml");
    std::fs::write(&file, "[[tokens]]\ntenant = \"a\"\ntoken = \"one\"\n").expect("write");
    let t = weir_core::telemetry::Telemetry::new();
    let a = load_counted(&dir, "{ bearer_tokens_file = \"tokens.toml\" }", &t).expect("loads");
    assert!(!a.reload().expect("unchanged"));
    std::fs::write(&file, "[[tokens]]\ntenant = \"a\"\ntoken = \"two\"\n").expect("write");
    assert!(a.reload().expect("reloads"));
    assert_eq!(a.check(&headers("Bearer one")).await, Err(Refused::Invalid));
    assert!(a.check(&headers("Bearer two")).await.is_ok());
    std::fs::write(&file, "[[tokens]]\ntenant = \"a\"\n").expect("write");
    let e = a.reload().expect_err("no token");
    assert!(
        e.problem
            .contains("exactly one of `token` and `token_sha256`"),
        "{e}"
    );
    assert!(
        a.check(&headers("Bearer two")).await.is_ok(),
        "old tokens stay in force"
    );
    assert_eq!(reloads(&t, "ok"), "1");
    assert_eq!(reloads(&t, "failed"), "1");
}

#[tokio::test]
async fn bad_tokens_files_say_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = load(&dir, "{ bearer_tokens_file = \"nope.toml\" }").expect_err("missing");
    assert!(
        missing.to_string().contains("nope.toml: cannot read"),
        "{missing}"
    );
    std::fs::write(dir.path().join("empty.toml"), "").expect("write");
    let empty = load(&dir, "{ bearer_tokens_file = \"empty.toml\" }").expect_err("empty");
    assert!(empty.problem.contains("no [[tokens]]"), "{empty}");
    std::fs::write(
        dir.path().join("twice.toml"),
        "[[tokens]]\ntenant = \"a\"\ntoken = \"same\"\n[[tokens]]\ntenant = \"b\"\ntoken = \"same\"\n",
    )
    .expect("write");
    let twice = load(&dir, "{ bearer_tokens_file = \"twice.toml\" }").expect_err("duplicate");
    assert!(
        twice
            .problem
            .contains("tokens[1] (tenant \"b\"): the same token as tenant \"a\""),
        "{twice}"
    );
    // A syntax error on a token's line: the position and the parser's words, not the line.
    std::fs::write(
        dir.path().join("broken.toml"),
        "[[tokens]]\ntenant = \"a\"\ntoken = \"s3cret-unterminated\n",
    )
    .expect("write");
    let broken = load(&dir, "{ bearer_tokens_file = \"broken.toml\" }").expect_err("syntax");
    assert!(broken.problem.starts_with("line 3: "), "{broken}");
    assert!(
        !broken.to_string().contains("s3cret"),
        "the token leaked: {broken}"
    );
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[tokens]]\ntenant = \"x\"\ntoken_sha256 = \"zz\"\n",
    )
    .expect("write");
    let bad = load(&dir, "{ bearer_tokens_file = \"bad.toml\" }").expect_err("bad hash");
    assert!(
        bad.problem
            .contains("tokens[0] (tenant \"x\"): `token_sha256` must be 64 hex digits"),
        "{bad}"
    );
}

#[tokio::test]
async fn basic_auth_checks_bcrypt_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hash = bcrypt::hash("pw-1", 4).expect("hash");
    std::fs::write(
        dir.path().join("htpasswd"),
        format!("# users\nalice:{hash}\n"),
    )
    .expect("write");
    let a = load(&dir, "{ basic = { htpasswd_file = \"htpasswd\" } }").expect("loads");
    let basic = |u: &str, p: &str| {
        headers(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        ))
    };
    assert_eq!(
        a.check(&basic("alice", "pw-1")).await,
        Ok(Tenant("alice".into()))
    );
    // Remembered: the second check is the cached path, same answer.
    assert_eq!(
        a.check(&basic("alice", "pw-1")).await,
        Ok(Tenant("alice".into()))
    );
    assert_eq!(
        a.check(&basic("alice", "pw-2")).await,
        Err(Refused::Invalid)
    );
    assert_eq!(a.check(&basic("bob", "pw-1")).await, Err(Refused::Invalid));
    assert_eq!(a.check(&headers("Basic !!!")).await, Err(Refused::Invalid));
    assert_eq!(a.challenge(), "Basic realm=\"weir\"");
    // A new password in the file: the remembered old one stops working at once.
    let hash = bcrypt::hash("pw-2", 4).expect("hash");
    std::fs::write(dir.path().join("htpasswd"), format!("alice:{hash}\n")).expect("write");
    assert!(a.reload().expect("reloads"));
    assert_eq!(
        a.check(&basic("alice", "pw-1")).await,
        Err(Refused::Invalid)
    );
    assert_eq!(
        a.check(&basic("alice", "pw-2")).await,
        Ok(Tenant("alice".into()))
    );
    std::fs::write(dir.path().join("md5"), "bob:$apr1$abc$def\n").expect("write");
    let md5 = load(&dir, "{ basic = { htpasswd_file = \"md5\" } }").expect_err("not bcrypt");
    assert!(
        md5.problem
            .contains("line 1: user \"bob\" has a hash that is not bcrypt"),
        "{md5}"
    );
}
