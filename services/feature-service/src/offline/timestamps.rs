use arrow::array::{Array, AsArray, Int64Array};
use arrow::datatypes::{
    DataType, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};

/// A timestamp column as microseconds since the Unix epoch, nulls kept. Arrow stores every
/// timestamp as UTC epoch time, so a zone only changes how it is displayed and a timestamp
/// without a zone is read as UTC. Nanoseconds round down: comparisons are to the microsecond.
/// `None` when the column is not a timestamp.
pub(crate) fn epoch_micros(column: &dyn Array) -> Option<Int64Array> {
    let DataType::Timestamp(unit, _) = column.data_type() else {
        return None;
    };
    Some(match unit {
        TimeUnit::Second => column
            .as_primitive::<TimestampSecondType>()
            .unary::<_, Int64Type>(|s| s.saturating_mul(1_000_000)),
        TimeUnit::Millisecond => column
            .as_primitive::<TimestampMillisecondType>()
            .unary::<_, Int64Type>(|ms| ms.saturating_mul(1_000)),
        TimeUnit::Microsecond => column
            .as_primitive::<TimestampMicrosecondType>()
            .reinterpret_cast(),
        TimeUnit::Nanosecond => column
            .as_primitive::<TimestampNanosecondType>()
            .unary::<_, Int64Type>(|ns| ns.div_euclid(1_000)),
    })
}

/// How far back, in microseconds, a row may lie before the entity row's time; `None` (a zero
/// ttl) means no lower bound. A ttl below one microsecond still bounds: only equal times match.
pub(super) fn lookback_micros(ttl: std::time::Duration) -> Option<i64> {
    (!ttl.is_zero()).then(|| i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX))
}
