//! Value types that read the way people write them: `"10s"`, `"4MiB"`, `"127.0.0.1:4317"`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A duration written as a string: `"250ms"`, `"10s"`, `"1m30s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim()).map(Seconds).map_err(|_| {
            de::Error::custom(format!(
                "invalid duration \"{s}\": write a number and a unit, e.g. \"250ms\", \"10s\", \"5m\""
            ))
        })
    }
}

/// A plugin call's deadline: `"250ms"` (the fixed part, keeping the default 50µs per item) or
/// `{ base = "20ms", per_item = "50us" }`; `per_item = "0s"` makes it fixed. See
/// [`weir_core::CallBudget`] for why it grows with the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub weir_core::CallBudget);

impl Default for Timeout {
    fn default() -> Self {
        Timeout(weir_core::CallBudget::DEFAULT)
    }
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The table form; unset parts keep their defaults.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Parts {
            base: Option<Seconds>,
            per_item: Option<Seconds>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Timeout;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"100ms\" or a table { base = \"100ms\", per_item = \"50us\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timeout, E> {
                let base = Seconds::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(Timeout(weir_core::CallBudget {
                    base: base.0,
                    ..weir_core::CallBudget::DEFAULT
                }))
            }
            fn visit_map<M: de::MapAccess<'de>>(self, map: M) -> Result<Timeout, M::Error> {
                let parts = Parts::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let d = weir_core::CallBudget::DEFAULT;
                Ok(Timeout(weir_core::CallBudget {
                    base: parts.base.map_or(d.base, |s| s.0),
                    per_item: parts.per_item.map_or(d.per_item, |s| s.0),
                }))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes: an integer, or a string such as `"512KiB"`, `"4MiB"`, `"20MB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size as `usize`, saturating on 32-bit targets.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| {
            format!("invalid size \"{s}\" (write e.g. \"4MiB\", \"512KiB\" or a number of bytes)")
        })?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            other => {
                return Err(format!(
                    "invalid size \"{s}\": unknown unit \"{other}\" (use B, KB, KiB, MB, MiB, GB or GiB)"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("size \"{s}\" is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"4MiB\" or a number of bytes")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A listen address: `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`. Port 0 asks the OS for a free
/// port; the bound address is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(pub SocketAddr);

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(ListenAddr(a));
        }
        if let Some(port) = s.strip_prefix("localhost:")
            && let Ok(port) = port.parse::<u16>()
        {
            return Ok(ListenAddr(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                port,
            )));
        }
        Err(format!(
            "invalid listen address \"{s}\": expected IP:PORT such as \"127.0.0.1:4317\" or \"[::1]:4317\""
        ))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        timeout: Timeout,
    }

    fn timeout(text: &str) -> Result<weir_core::CallBudget, String> {
        toml::from_str::<T>(text)
            .map(|t| t.timeout.0)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn parses_call_budgets() {
        use std::time::Duration;
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        let b = |base, per_item| weir_core::CallBudget { base, per_item };
        assert_eq!(timeout(r#"timeout = "250ms""#), Ok(b(ms(250), us(50))));
        assert_eq!(
            timeout(r#"timeout = { base = "20ms", per_item = "10us" }"#),
            Ok(b(ms(20), us(10)))
        );
        assert_eq!(
            timeout(r#"timeout = { per_item = "0s" }"#),
            Ok(b(ms(100), Duration::ZERO))
        );
        assert_eq!(
            timeout(r#"timeout = {}"#),
            Ok(weir_core::CallBudget::DEFAULT)
        );
        let err = timeout(r#"timeout = { base = "20ms", per_span = "1us" }"#).unwrap_err();
        assert!(
            err.contains("unknown field `per_span`, expected `base` or `per_item`"),
            "{err}"
        );
        let err = timeout(r#"timeout = "soon""#).unwrap_err();
        assert!(err.starts_with("invalid duration \"soon\""), "{err}");
        let err = timeout("timeout = 5").unwrap_err();
        assert!(
            err.contains("a duration such as \"100ms\" or a table"),
            "{err}"
        );
    }

    #[test]
    fn parses_sizes() {
        assert_eq!("4MiB".parse::<ByteSize>(), Ok(ByteSize(4 << 20)));
        assert_eq!("20 MB".parse::<ByteSize>(), Ok(ByteSize(20_000_000)));
        assert_eq!("17".parse::<ByteSize>(), Ok(ByteSize(17)));
        assert!("4 parsecs".parse::<ByteSize>().is_err());
        assert!("".parse::<ByteSize>().is_err());
    }

    #[test]
    fn parses_addresses() {
        assert_eq!(
            "localhost:0".parse::<ListenAddr>().map(|a| a.to_string()),
            Ok("127.0.0.1:0".to_string())
        );
        assert!("[::1]:4317".parse::<ListenAddr>().is_ok());
        assert!("example.com:4317".parse::<ListenAddr>().is_err());
        assert!("127.0.0.1".parse::<ListenAddr>().is_err());
    }
}
