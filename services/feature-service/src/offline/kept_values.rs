use arrow::array::{Array, ArrayRef, UInt32Array, new_null_array};
use arrow::compute::{interleave, take};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;

const NO_ROW: u32 = u32::MAX;

/// The feature values of the best source row found so far for every entity row, kept without
/// holding on to the source batches they came from.
///
/// Each batch contributes one small chunk: the values of just those of its rows that became
/// someone's best. Chunks whose rows have since been beaten are garbage; once the garbage
/// outgrows `compact_after` rows, all chunks are folded into one holding a value per entity
/// row. So at most about `entity rows + compact_after + one batch` values per feature are held,
/// and the copying stays linear in the number of values taken.
pub(super) struct KeptValues {
    types: Vec<DataType>,
    /// Chunk 0 holds a single null per feature: where entity rows without a candidate point.
    chunks: Vec<Vec<ArrayRef>>,
    /// Per entity row: (chunk, row within the chunk).
    slots: Vec<(u32, u32)>,
    rows_since_compaction: usize,
    compact_after: usize,
    /// Scratch, one entry per row of the current batch: its row in the new chunk.
    chunk_row_of: Vec<u32>,
}

impl KeptValues {
    pub(super) fn new(types: Vec<DataType>, entity_rows: usize, min_compaction_rows: usize) -> KeptValues {
        let nulls = types
            .iter()
            .map(|data_type| new_null_array(data_type, 1))
            .collect();
        KeptValues {
            types,
            chunks: vec![nulls],
            slots: vec![(0, 0); entity_rows],
            rows_since_compaction: 0,
            compact_after: entity_rows.max(min_compaction_rows),
            chunk_row_of: Vec::new(),
        }
    }

    /// Takes from `features` (columns of one source batch) the values of `batch_row_of[e]` for
    /// every entity row `e` in `won`.
    pub(super) fn keep(
        &mut self,
        features: &[&ArrayRef],
        won: &[u32],
        batch_row_of: &[u32],
    ) -> Result<(), ArrowError> {
        if won.is_empty() {
            return Ok(());
        }
        let batch_rows = features.first().map_or(0, |column| column.len());
        self.chunk_row_of.clear();
        self.chunk_row_of.resize(batch_rows, NO_ROW);
        let chunk = u32::try_from(self.chunks.len()).expect("fewer chunks than compactions allow");
        let mut taken: Vec<u32> = Vec::new();
        for &entity_row in won {
            let batch_row = batch_row_of[entity_row as usize];
            let position = &mut self.chunk_row_of[batch_row as usize];
            if *position == NO_ROW {
                *position = taken.len() as u32;
                taken.push(batch_row);
            }
            self.slots[entity_row as usize] = (chunk, *position);
        }
        let indices = UInt32Array::from(taken);
        let values = features
            .iter()
            .map(|column| take(column.as_ref(), &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        self.rows_since_compaction += indices.len();
        self.chunks.push(values);
        if self.rows_since_compaction > self.compact_after {
            self.compact()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<(), ArrowError> {
        let merged = self.gather()?;
        self.chunks.truncate(1);
        self.chunks.push(merged);
        for (entity_row, slot) in self.slots.iter_mut().enumerate() {
            *slot = (1, entity_row as u32);
        }
        self.rows_since_compaction = 0;
        Ok(())
    }

    fn gather(&self) -> Result<Vec<ArrayRef>, ArrowError> {
        let indices: Vec<(usize, usize)> = self
            .slots
            .iter()
            .map(|&(chunk, row)| (chunk as usize, row as usize))
            .collect();
        (0..self.types.len())
            .map(|feature| {
                let sources: Vec<&dyn Array> =
                    self.chunks.iter().map(|chunk| chunk[feature].as_ref()).collect();
                interleave(&sources, &indices)
            })
            .collect()
    }

    /// One column per feature, a value per entity row: its best row's value, or null.
    pub(super) fn finish(self) -> Result<Vec<ArrayRef>, ArrowError> {
        if self.chunks.len() == 1 {
            return Ok(self
                .types
                .iter()
                .map(|data_type| new_null_array(data_type, self.slots.len()))
                .collect());
        }
        self.gather()
    }
}
