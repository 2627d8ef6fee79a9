//! The keys each config table takes, read from its type rather than written down again: the
//! exporter checks and the test that holds `docs/configuration.md` to the types both use them,
//! so a key added to a type cannot be missing from the docs or from the per-type checks.

use serde::Deserialize;
use serde::de::{self, Visitor};

use crate::ExporterKind;

/// The keys of the table that `T` (a `#[derive(Deserialize)]` struct) reads, in declaration
/// order. Empty for anything that is not deserialized as a struct.
pub fn keys<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut found = None;
    let _ = T::deserialize(Fields(&mut found));
    found.unwrap_or(&[])
}

/// A deserializer that only records the field names a struct asks for.
struct Fields<'a>(&'a mut Option<&'static [&'static str]>);

/// Ends deserialization once the names are recorded.
#[derive(Debug)]
struct Done;

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Done {}

impl de::Error for Done {
    fn custom<T: std::fmt::Display>(_: T) -> Done {
        Done
    }
}

impl<'de> de::Deserializer<'de> for Fields<'_> {
    type Error = Done;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Done> {
        Err(Done)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Done> {
        *self.0 = Some(fields);
        Err(Done)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Which exporter types take each `[exporters.<name>]` key (every key of
/// [`crate::ExporterTable`] is here; a test checks it). The checks refuse a key on a type
/// that does not take it, and `docs/configuration.md`'s "applies to" column must say the same.
pub const EXPORTER_KEYS: &[(&str, &[ExporterKind])] = {
    use ExporterKind::{Debug, File, OtlpGrpc, OtlpHttp, Plugin};
    const ALL: &[ExporterKind] = &[OtlpGrpc, OtlpHttp, Debug, File, Plugin];
    const OTLP: &[ExporterKind] = &[OtlpGrpc, OtlpHttp];
    const SENDING: &[ExporterKind] = &[OtlpGrpc, OtlpHttp, Plugin];
    &[
        ("type", ALL),
        ("endpoint", OTLP),
        ("compression", OTLP),
        ("timeout", SENDING),
        ("headers", OTLP),
        ("verbosity", &[Debug]),
        ("path", &[File]),
        ("sending_queue", ALL),
        ("retry_on_failure", SENDING),
        ("plugin", &[Plugin]),
        ("config", &[Plugin]),
        ("allowed_hosts", &[Plugin]),
        ("memory_limit", &[Plugin]),
        ("grants", &[Plugin]),
        ("tls", SENDING),
    ]
};

impl ExporterKind {
    /// Every exporter type.
    pub const ALL: [ExporterKind; 5] = [
        ExporterKind::OtlpGrpc,
        ExporterKind::OtlpHttp,
        ExporterKind::Debug,
        ExporterKind::File,
        ExporterKind::Plugin,
    ];

    /// Whether exporters of this type take `key` (see [`EXPORTER_KEYS`]).
    pub fn takes(self, key: &str) -> bool {
        EXPORTER_KEYS
            .iter()
            .any(|(k, kinds)| *k == key && kinds.contains(&self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_types() {
        let retry = keys::<crate::RetryConfig>();
        assert!(retry.contains(&"initial_interval"), "{retry:?}");
        assert!(keys::<u32>().is_empty());
    }

    #[test]
    fn every_exporter_key_says_which_types_take_it() {
        let mut declared: Vec<&str> = EXPORTER_KEYS.iter().map(|(k, _)| *k).collect();
        let mut fields: Vec<&str> = keys::<crate::ExporterTable>().to_vec();
        declared.sort_unstable();
        fields.sort_unstable();
        assert_eq!(declared, fields);
    }
}
