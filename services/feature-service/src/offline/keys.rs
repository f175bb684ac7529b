use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::error::ArrowError;
use arrow::row::{RowConverter, Rows, SortField};
use foldhash::fast::RandomState;

/// How a join key compares: as an integer or as a string. Both sides of a join must agree;
/// within a kind any width or encoding goes (an int32 key matches an int64 one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Integer,
    Text,
}

impl KeyKind {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "arrow's DataType is foreign and large: the types not listed cannot be keys"
    )]
    pub(super) fn of(data_type: &DataType) -> Option<KeyKind> {
        match data_type {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => Some(KeyKind::Integer),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(KeyKind::Text),
            DataType::Dictionary(_, values) => KeyKind::of(values),
            _ => None,
        }
    }

    fn common_type(self) -> DataType {
        match self {
            KeyKind::Integer => DataType::Int64,
            KeyKind::Text => DataType::Utf8,
        }
    }
}

/// Turns the join key columns of each row into a key that is equal exactly when the keys are,
/// whatever the width or encoding of each side's columns. A single integer key (the common
/// case: `driver_id`) stays an `i64`; any other combination becomes Arrow's row bytes. Without
/// key columns (a view without entities) every row has the same, empty, key.
pub(super) struct KeyEncoder {
    converter: Option<RowConverter>,
    kinds: Vec<KeyKind>,
}

/// The encoded keys of a batch; a row with a null in any key column has no key and never matches.
pub(super) enum EncodedKeys {
    /// One integer key column, widened to `i64`.
    Integers(Int64Array),
    /// Any other key columns, as Arrow rows (`None` without key columns).
    Rows {
        rows: Option<Rows>,
        nulls: Option<NullBuffer>,
    },
}

/// One row's key, as [`EncodedKeys::get`] hands it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key<'a> {
    Integer(i64),
    Bytes(&'a [u8]),
}

impl KeyEncoder {
    pub(super) fn new(kinds: Vec<KeyKind>) -> Result<KeyEncoder, ArrowError> {
        let converter = match kinds.as_slice() {
            [] | [KeyKind::Integer] => None,
            _ => Some(RowConverter::new(
                kinds
                    .iter()
                    .map(|kind| SortField::new(kind.common_type()))
                    .collect(),
            )?),
        };
        Ok(KeyEncoder { converter, kinds })
    }

    /// `columns` are in the order of the kinds given to [`KeyEncoder::new`] and of those kinds.
    pub(super) fn encode(&self, columns: &[&ArrayRef]) -> Result<EncodedKeys, ArrowError> {
        let common: Vec<ArrayRef> = columns
            .iter()
            .zip(&self.kinds)
            .map(|(column, kind)| {
                let target = kind.common_type();
                if column.data_type() == &target {
                    Ok(Arc::clone(column))
                } else {
                    cast(column, &target)
                }
            })
            .collect::<Result<_, _>>()?;
        if let ([KeyKind::Integer], [column]) = (self.kinds.as_slice(), common.as_slice()) {
            return Ok(EncodedKeys::Integers(column.as_primitive::<Int64Type>().clone()));
        }
        let nulls = common.iter().fold(None, |acc, column| {
            NullBuffer::union(acc.as_ref(), column.logical_nulls().as_ref())
        });
        let rows = match &self.converter {
            Some(converter) => Some(converter.convert_columns(&common)?),
            None => None,
        };
        Ok(EncodedKeys::Rows { rows, nulls })
    }
}

impl EncodedKeys {
    pub(super) fn get(&self, row: usize) -> Option<Key<'_>> {
        match self {
            EncodedKeys::Integers(values) => values.is_valid(row).then(|| Key::Integer(values.value(row))),
            EncodedKeys::Rows {
                nulls: Some(nulls), ..
            } if nulls.is_null(row) => None,
            EncodedKeys::Rows { rows, .. } => {
                Some(Key::Bytes(rows.as_ref().map_or(&[], |rows| rows.row(row).data())))
            }
        }
    }
}

/// Numbers keys 0, 1, 2… in the order they are first seen. An integer key is hashed as itself,
/// any other as its bytes; an integer and a byte key never match. Keys come from the caller's
/// data (an entity frame, a source file): foldhash's per-map random seed keeps crafted keys from
/// degrading a map, at a fraction of SipHash's cost (one lookup per source row).
#[derive(Default)]
pub(crate) struct KeyNumbers {
    integers: HashMap<i64, u32, RandomState>,
    bytes: HashMap<Box<[u8]>, u32, RandomState>,
}

impl KeyNumbers {
    pub(crate) fn len(&self) -> usize {
        self.integers.len() + self.bytes.len()
    }

    pub(crate) fn get(&self, key: Key<'_>) -> Option<u32> {
        match key {
            Key::Integer(key) => self.integers.get(&key).copied(),
            Key::Bytes(key) => self.bytes.get(key).copied(),
        }
    }

    /// The number of `key`, the next one (`len()`) if it is new. The caller keeps `len()` below
    /// `u32::MAX`.
    pub(crate) fn number(&mut self, key: Key<'_>) -> u32 {
        let next = self.len() as u32;
        match key {
            Key::Integer(key) => *self.integers.entry(key).or_insert(next),
            Key::Bytes(key) => match self.bytes.get(key) {
                Some(&number) => number,
                None => *self.bytes.entry(key.into()).or_insert(next),
            },
        }
    }
}
