//! Secrets planted in generated telemetry, in every shape and place a redaction stage must
//! look: text with context around it, integers, UTF-8 bytes, array and map members, map keys,
//! and values under keys that are secret whatever they hold.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value,
};

use crate::Rng;
use crate::vocab::{kv, text};

/// What a planted secret is, named like `builtin:redact`'s detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// A Luhn-valid 16-digit card number, plain or with spaces or dashes (`credit-card`).
    Card,
    /// A card number sent as an integer value (`credit-card`).
    CardInteger,
    /// `local@domain.tld` (`email`).
    Email,
    /// A JSON web token (`jwt`).
    Jwt,
    /// `Bearer <token>` (`bearer-token`).
    Bearer,
    /// An AWS access key id (`aws-access-key`).
    AwsKey,
    /// A US social security number from an issued range (`us-ssn`).
    Ssn,
    /// Any value under the key `password`: found only by a blocked key.
    Password,
}

/// One secret the generator planted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    /// What it is.
    pub kind: SecretKind,
    /// Its text as planted (for [`SecretKind::CardInteger`], the decimal digits).
    pub value: String,
    /// Where it was put, e.g. `span.attributes[http.route] in an array`.
    pub location: String,
}

/// Decides where secrets go; its own random stream keeps the rest of the telemetry the same
/// whether or not secrets are planted.
#[derive(Debug, Clone)]
pub(crate) struct Planter {
    rng: Rng,
    pub(crate) rate: f64,
    pub(crate) planted: Vec<Planted>,
}

/// Words before a secret inside text.
const CONTEXT: &[&str] = &["paid with", "contact", "auth", "note:", "user", "retry for"];

impl Planter {
    pub(crate) fn new(seed: u64, rate: f64) -> Planter {
        Planter {
            rng: Rng::new(seed),
            rate,
            planted: Vec::new(),
        }
    }

    fn due(&mut self) -> bool {
        self.rate > 0.0 && self.rng.chance(self.rate)
    }

    /// A fresh secret of a random kind that can live in text (not an integer or a password).
    fn secret(&mut self) -> (SecretKind, String) {
        let r = &mut self.rng;
        match r.below(6) {
            0 => (SecretKind::Card, card(r)),
            1 => (SecretKind::Email, email(r)),
            2 => (SecretKind::Jwt, jwt(r)),
            3 => (SecretKind::Bearer, format!("Bearer {}", token(r, 32))),
            4 => (SecretKind::AwsKey, aws_key(r)),
            _ => (SecretKind::Ssn, ssn(r)),
        }
    }

    fn record(&mut self, kind: SecretKind, value: String, location: String) {
        self.planted.push(Planted {
            kind,
            value,
            location,
        });
    }

    /// Maybe puts a secret inside `s` (after it, with a word of context).
    pub(crate) fn text(&mut self, s: &mut String, location: &str) {
        if !self.due() {
            return;
        }
        let (kind, secret) = self.secret();
        let word = *self.rng.pick(CONTEXT);
        if s.is_empty() {
            *s = format!("{word} {secret}");
        } else {
            s.push_str(&format!(" {word} {secret}"));
        }
        self.record(kind, secret, location.to_string());
    }

    /// Maybe adds an attribute that hides a secret, in one of the shapes values take.
    pub(crate) fn attributes(&mut self, attrs: &mut Vec<KeyValue>, location: &str) {
        if !self.due() {
            return;
        }
        let (kind, secret) = self.secret();
        let word = *self.rng.pick(CONTEXT);
        let at = |how: &str| format!("{location} {how}");
        let (attr, kind, value, how) = match self.rng.below(8) {
            0 => (
                text("app.note", format!("{word} {secret}")),
                kind,
                secret,
                at("as text"),
            ),
            1 => {
                let n = card_integer(&mut self.rng);
                (
                    kv("payment.card", Value::IntValue(n)),
                    SecretKind::CardInteger,
                    n.to_string(),
                    at("as an integer"),
                )
            }
            2 => (
                kv(
                    "app.blob",
                    Value::BytesValue(format!("{word} {secret}").into_bytes()),
                ),
                kind,
                secret,
                at("as UTF-8 bytes"),
            ),
            3 => (
                kv("app.tags", array(vec![string("checkout"), string(&secret)])),
                kind,
                secret,
                at("in an array"),
            ),
            4 => (
                kv(
                    "app.context",
                    Value::KvlistValue(KeyValueList {
                        values: vec![
                            text("step", "confirm"),
                            kv("inner", array(vec![string(&format!("{word} {secret}"))])),
                        ],
                    }),
                ),
                kind,
                secret,
                at("in an array in a map"),
            ),
            5 => {
                let email = email(&mut self.rng);
                (
                    text(&format!("user:{email}"), "signed-in"),
                    SecretKind::Email,
                    email,
                    at("in a key"),
                )
            }
            _ => {
                let password = format!("hunter{}-{}", self.rng.below(100), token(&mut self.rng, 8));
                (
                    text("password", &password),
                    SecretKind::Password,
                    password,
                    at("under the key password"),
                )
            }
        };
        let place = self.rng.below(attrs.len() + 1);
        attrs.insert(place, attr);
        self.record(kind, value, how);
    }

    /// Maybe hides a secret in a log body: inside its text, or as a member (or key) of a
    /// structured body.
    pub(crate) fn body(&mut self, body: &mut Option<AnyValue>, location: &str) {
        match body.as_mut().and_then(|b| b.value.as_mut()) {
            Some(Value::StringValue(s)) => self.text(s, location),
            Some(Value::KvlistValue(map)) => self.attributes(&mut map.values, location),
            Some(Value::ArrayValue(list)) if self.due() => {
                let (kind, secret) = self.secret();
                list.values.push(string(&secret));
                self.record(kind, secret, format!("{location} in an array"));
            }
            _ => {}
        }
    }
}

fn string(s: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s.to_string())),
    }
}

fn array(values: Vec<AnyValue>) -> Value {
    Value::ArrayValue(ArrayValue { values })
}

/// `n` letters and digits.
fn token(r: &mut Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n).map(|_| *r.pick(ALPHABET) as char).collect()
}

/// 16 Luhn-valid digits starting with 4 (a Visa-like number).
fn card_digits(r: &mut Rng) -> Vec<u8> {
    let mut digits: Vec<u8> = std::iter::once(4)
        .chain((0..14).map(|_| r.below(10) as u8))
        .collect();
    // The check digit makes the Luhn sum of all 16 a multiple of 10.
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    digits.push(((10 - sum % 10) % 10) as u8);
    digits
}

/// A card number written plain, with spaces or with dashes.
fn card(r: &mut Rng) -> String {
    let digits: String = card_digits(r)
        .iter()
        .map(|d| char::from(b'0' + d))
        .collect();
    let sep = *r.pick(&["", " ", "-"]);
    digits
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}

fn card_integer(r: &mut Rng) -> i64 {
    card_digits(r)
        .iter()
        .fold(0i64, |n, d| n * 10 + i64::from(*d))
}

fn email(r: &mut Rng) -> String {
    let first = *r.pick(&["ada", "grace", "linus", "barbara", "ken"]);
    let last = *r.pick(&["lovelace", "hopper", "torvalds", "liskov", "thompson"]);
    let domain = *r.pick(&["example.com", "mail.example.org", "shop.example.net"]);
    format!("{first}.{last}{}@{domain}", r.below(1000))
}

fn jwt(r: &mut Rng) -> String {
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}",
        token(r, 40),
        token(r, 43)
    )
}

fn aws_key(r: &mut Rng) -> String {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let tail: String = (0..16).map(|_| *r.pick(UPPER) as char).collect();
    format!("AKIA{tail}")
}

/// An SSN from an issued range: area 001–665 or 667–899, group 01–99, serial 0001–9999.
fn ssn(r: &mut Rng) -> String {
    let mut area = 1 + r.below(899);
    if area == 666 {
        area = 667;
    }
    format!("{area:03}-{:02}-{:04}", 1 + r.below(99), 1 + r.below(9999))
}
