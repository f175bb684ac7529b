//! Online feature values from Arrow cells, and to and from the wire's `Value`.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use lathe_contract::features::v1 as pb;

use crate::offline;
use crate::online::Value;

/// One Arrow cell as an online value.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "arrow's DataType is foreign and large: the types not listed have no feature value"
)]
pub fn arrow_value(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Int32 => Value::Int32(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::Int64(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => Value::Float32(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => Value::Float64(array.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_owned()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(row).to_owned()),
        DataType::Binary => Value::Bytes(array.as_binary::<i32>().value(row).to_vec()),
        DataType::LargeBinary => Value::Bytes(array.as_binary::<i64>().value(row).to_vec()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            Value::Timestamp(array.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        DataType::Timestamp(..) => {
            let sliced = array.slice(row, 1);
            offline::timestamps::epoch_micros(sliced.as_ref())
                .map_or(Value::Null, |t| Value::Timestamp(t.value(0)))
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            Value::List((0..list.len()).map(|i| arrow_value(list.as_ref(), i)).collect())
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>().value(row);
            Value::List((0..list.len()).map(|i| arrow_value(list.as_ref(), i)).collect())
        }
        _ => Value::Null,
    }
}

pub fn value_to_proto(value: &Value) -> pb::Value {
    use pb::value::Kind;
    let kind = match value {
        Value::Null => None,
        Value::Int32(v) => Some(Kind::Int32Value(*v)),
        Value::Int64(v) => Some(Kind::Int64Value(*v)),
        Value::Float32(v) => Some(Kind::FloatValue(*v)),
        Value::Float64(v) => Some(Kind::DoubleValue(*v)),
        Value::Bool(v) => Some(Kind::BoolValue(*v)),
        Value::String(v) => Some(Kind::StringValue(v.clone())),
        Value::Bytes(v) => Some(Kind::BytesValue(v.clone().into())),
        Value::Timestamp(v) => Some(Kind::TimestampUs(*v)),
        Value::List(items) => Some(Kind::ListValue(pb::ValueList {
            values: items.iter().map(value_to_proto).collect(),
        })),
    };
    pb::Value { kind }
}

pub fn value_from_proto(value: &pb::Value) -> Value {
    use pb::value::Kind;
    match &value.kind {
        None => Value::Null,
        Some(Kind::Int32Value(v)) => Value::Int32(*v),
        Some(Kind::Int64Value(v)) => Value::Int64(*v),
        Some(Kind::FloatValue(v)) => Value::Float32(*v),
        Some(Kind::DoubleValue(v)) => Value::Float64(*v),
        Some(Kind::BoolValue(v)) => Value::Bool(*v),
        Some(Kind::StringValue(v)) => Value::String(v.clone()),
        Some(Kind::BytesValue(v)) => Value::Bytes(v.to_vec()),
        Some(Kind::TimestampUs(v)) => Value::Timestamp(*v),
        Some(Kind::ListValue(list)) => Value::List(list.values.iter().map(value_from_proto).collect()),
    }
}
