//! GGUF metadata values.

use serde::Serialize;

/// The GGUF metadata value type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
    String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
}

impl ValueType {
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8, 1 => I8, 2 => U16, 3 => I16, 4 => U32, 5 => I32, 6 => F32, 7 => Bool,
            8 => String, 9 => Array, 10 => U64, 11 => I64, 12 => F64,
            _ => return None,
        })
    }
    /// Encoded size of a scalar; `None` for strings and arrays.
    pub fn scalar_size(self) -> Option<u64> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }
    /// The fewest bytes one value of this type can take in a file (for count checks).
    pub fn min_encoded_size(self) -> u64 {
        match self {
            ValueType::String => 8,
            ValueType::Array => 12,
            t => t.scalar_size().unwrap_or(1),
        }
    }
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8", I8 => "i8", U16 => "u16", I16 => "i16", U32 => "u32", I32 => "i32",
            F32 => "f32", Bool => "bool", String => "string", Array => "array", U64 => "u64",
            I64 => "i64", F64 => "f64",
        }
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    U8(u8), I8(i8), U16(u16), I16(i16), U32(u32), I32(i32), F32(f32), Bool(bool),
    String(String), Array(Array), U64(u64), I64(i64), F64(f64),
}

/// A homogeneous metadata array, stored compactly by element type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Array {
    U8(Vec<u8>), I8(Vec<i8>), U16(Vec<u16>), I16(Vec<i16>), U32(Vec<u32>), I32(Vec<i32>),
    F32(Vec<f32>), Bool(Vec<bool>), String(Vec<String>), Array(Vec<Array>), U64(Vec<u64>),
    I64(Vec<i64>), F64(Vec<f64>),
}

macro_rules! each_array {
    ($a:expr, $v:ident => $e:expr) => {
        match $a {
            Array::U8($v) => $e, Array::I8($v) => $e, Array::U16($v) => $e, Array::I16($v) => $e,
            Array::U32($v) => $e, Array::I32($v) => $e, Array::F32($v) => $e, Array::Bool($v) => $e,
            Array::String($v) => $e, Array::Array($v) => $e, Array::U64($v) => $e,
            Array::I64($v) => $e, Array::F64($v) => $e,
        }
    };
}

impl Array {
    pub fn empty(elem: ValueType) -> Array {
        match elem {
            ValueType::U8 => Array::U8(vec![]), ValueType::I8 => Array::I8(vec![]),
            ValueType::U16 => Array::U16(vec![]), ValueType::I16 => Array::I16(vec![]),
            ValueType::U32 => Array::U32(vec![]), ValueType::I32 => Array::I32(vec![]),
            ValueType::F32 => Array::F32(vec![]), ValueType::Bool => Array::Bool(vec![]),
            ValueType::String => Array::String(vec![]), ValueType::Array => Array::Array(vec![]),
            ValueType::U64 => Array::U64(vec![]), ValueType::I64 => Array::I64(vec![]),
            ValueType::F64 => Array::F64(vec![]),
        }
    }
    pub fn len(&self) -> usize {
        each_array!(self, v => v.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn elem_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8, Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16, Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32, Array::I32(_) => ValueType::I32,
            Array::F32(_) => ValueType::F32, Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String, Array::Array(_) => ValueType::Array,
            Array::U64(_) => ValueType::U64, Array::I64(_) => ValueType::I64,
            Array::F64(_) => ValueType::F64,
        }
    }
    /// Element `i` as a scalar value (arrays of arrays give `None`).
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Array::U8(v) => Value::U8(*v.get(i)?), Array::I8(v) => Value::I8(*v.get(i)?),
            Array::U16(v) => Value::U16(*v.get(i)?), Array::I16(v) => Value::I16(*v.get(i)?),
            Array::U32(v) => Value::U32(*v.get(i)?), Array::I32(v) => Value::I32(*v.get(i)?),
            Array::F32(v) => Value::F32(*v.get(i)?), Array::Bool(v) => Value::Bool(*v.get(i)?),
            Array::String(v) => Value::String(v.get(i)?.clone()),
            Array::Array(v) => Value::Array(v.get(i)?.clone()),
            Array::U64(v) => Value::U64(*v.get(i)?), Array::I64(v) => Value::I64(*v.get(i)?),
            Array::F64(v) => Value::F64(*v.get(i)?),
        })
    }
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8, Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16, Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32, Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32, Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String, Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64, Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }
    /// Any integer type that fits in u64 (negative values give `None`).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64), Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64), Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(), Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(), Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}
