//! Attribute values: borrowed when read from the host's columns, owned when written.

use crate::bindings::weir::plugin::types::AnyValue;

/// A value read from the batch, borrowing the column it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// Bytes.
    Bytes(&'a [u8]),
    /// An array or key-value list, as OTLP/JSON.
    Json(&'a str),
}

impl<'a> ValueRef<'a> {
    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&'a str> {
        if let ValueRef::Str(s) = self {
            Some(s)
        } else {
            None
        }
    }

    /// The integer, if this is an integer value.
    pub fn as_int(&self) -> Option<i64> {
        if let ValueRef::Int(i) = self {
            Some(*i)
        } else {
            None
        }
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Value {
        match *self {
            ValueRef::Str(s) => Value::Str(s.to_string()),
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Double(d) => Value::Double(d),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::Json(j) => Value::Json(j.to_string()),
        }
    }
}

/// A value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// Bytes.
    Bytes(Vec<u8>),
    /// An array or key-value list, as OTLP/JSON (`{"arrayValue":{"values":[...]}}`).
    Json(String),
}

impl Value {
    /// The value borrowed as a [`ValueRef`], e.g. to push it into a
    /// [`ValuesBuilder`](crate::columns::ValuesBuilder) without copying it first.
    pub fn borrowed(&self) -> ValueRef<'_> {
        match self {
            Value::Str(s) => ValueRef::Str(s),
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Double(d) => ValueRef::Double(*d),
            Value::Bytes(b) => ValueRef::Bytes(b),
            Value::Json(j) => ValueRef::Json(j),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Str(s.clone())
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(d: f64) -> Value {
        Value::Double(d)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Value {
        v.to_owned()
    }
}

impl From<Value> for AnyValue {
    fn from(v: Value) -> AnyValue {
        match v {
            Value::Str(s) => AnyValue::Str(s),
            Value::Bool(b) => AnyValue::Boolean(b),
            Value::Int(i) => AnyValue::Int(i),
            Value::Double(d) => AnyValue::Double(d),
            Value::Bytes(b) => AnyValue::Bytes(b),
            Value::Json(j) => AnyValue::Json(j),
        }
    }
}

impl From<AnyValue> for Value {
    fn from(v: AnyValue) -> Value {
        match v {
            AnyValue::Str(s) => Value::Str(s),
            AnyValue::Boolean(b) => Value::Bool(b),
            AnyValue::Int(i) => Value::Int(i),
            AnyValue::Double(d) => Value::Double(d),
            AnyValue::Bytes(b) => Value::Bytes(b),
            AnyValue::Json(j) => Value::Json(j),
        }
    }
}
