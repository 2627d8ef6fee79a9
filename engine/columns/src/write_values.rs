//! `set-attribute-values` (since `weir:plugin@0.1.2`): one key set on many owners, each to its
//! own value, sent as one value column. A rename or a value derived per span would otherwise
//! be one `apply` edit per owner, each lowered across the Wasm boundary with its own key and
//! value strings; the owners and the column cross as a few byte lists.

use weir_core::otlp::common::v1::{AnyValue, any_value};

use crate::write::{InvalidWrite, Write, invalid, to_any};
use crate::{Level, Session, Value, ValueColumn, kind};

const CALL: &str = "set-attribute-values";

impl Session {
    /// Sets `key` on each owner of `level` in the packed-u32 `owners` to the value in the same
    /// row of `values`; a row of kind absent removes the key from that owner. An owner listed
    /// twice gets its later row. A list and a column of different lengths, an owner out of
    /// range, a malformed column or JSON that is not an array or key-value list make the call
    /// invalid.
    pub fn set_attribute_values(
        &mut self,
        level: Level,
        key: String,
        owners: &[u8],
        values: &ValueColumn,
    ) {
        self.record(CALL, |s| {
            Session::check_key(CALL, &key)?;
            let owners = s.owners(CALL, level, Some(owners))?.unwrap_or_default();
            // Checked before any row is decoded: a mismatch costs the host nothing.
            if values.kinds.len() != owners.len() {
                return Err(invalid(
                    CALL,
                    format!(
                        "{} owners but {} values: the list and the column need one row each",
                        owners.len(),
                        values.kinds.len()
                    ),
                ));
            }
            let values = rows(values)?;
            Ok(vec![Write::SetAttributeValues {
                level,
                key,
                owners,
                values,
            }])
        });
    }
}

/// The rows of a value column as OTLP values (`None` for absent rows), checking its shape.
fn rows(column: &ValueColumn) -> Result<Vec<Option<AnyValue>>, InvalidWrite> {
    let n = column.kinds.len();
    if column.numbers.len() != n * weir_abi::NUMBER_BYTES {
        return Err(invalid(
            CALL,
            format!(
                "numbers holds {} bytes, not {} ({} per row)",
                column.numbers.len(),
                n * weir_abi::NUMBER_BYTES,
                weir_abi::NUMBER_BYTES
            ),
        ));
    }
    let offsets = crate::unpack_u32(&column.text.offsets)
        .filter(|o| o.len() == n + 1 && o.first() == Some(&0))
        .ok_or_else(|| {
            invalid(
                CALL,
                format!("text.offsets must be {} packed u32 starting at 0", n + 1),
            )
        })?;
    let mut out = Vec::with_capacity(n);
    for (row, (&k, number)) in column
        .kinds
        .iter()
        .zip(column.numbers.chunks_exact(weir_abi::NUMBER_BYTES))
        .enumerate()
    {
        let bits: [u8; 8] = number.try_into().unwrap_or_default();
        let bytes = match (offsets.get(row), offsets.get(row + 1)) {
            (Some(&start), Some(&end)) => column.text.data.get(start as usize..end as usize),
            _ => None,
        }
        .ok_or_else(|| {
            invalid(
                CALL,
                format!("row {row}: text offsets out of order or range"),
            )
        })?;
        let text = || {
            std::str::from_utf8(bytes)
                .map(str::to_string)
                .map_err(|_| invalid(CALL, format!("row {row}: text is not UTF-8")))
        };
        let value = match k {
            kind::ABSENT => None,
            kind::STR => Some(any_value::Value::StringValue(text()?)),
            kind::BOOL => Some(any_value::Value::BoolValue(u64::from_le_bytes(bits) != 0)),
            kind::INT => Some(any_value::Value::IntValue(i64::from_le_bytes(bits))),
            kind::DOUBLE => Some(any_value::Value::DoubleValue(f64::from_le_bytes(bits))),
            kind::BYTES => Some(any_value::Value::BytesValue(bytes.to_vec())),
            kind::JSON => to_any(CALL, Value::Json(text()?))?.value,
            other => {
                return Err(invalid(CALL, format!("row {row}: unknown kind {other}")));
            }
        };
        out.push(value.map(|v| AnyValue { value: Some(v) }));
    }
    Ok(out)
}
