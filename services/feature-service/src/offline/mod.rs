//! Offline store: point-in-time correct historical retrieval over Parquet sources.
//!
//! [`historical_features`] joins feature views onto an entity frame (join keys plus
//! `event_timestamp`). For an entity row with key `k` at time `T`, a view's candidates are its
//! source rows with key `k` and `T - ttl <= event_timestamp <= T` (both ends inclusive, to the
//! microsecond; a zero ttl drops the lower bound). The latest candidate wins, a tie going to
//! the later created timestamp (a null created timestamp loses to any value, and a complete
//! tie to the row read first: files in path order, rows in file order). The winner's values
//! are returned as they are, nulls included; without a candidate the view's features are null.
//! Every entity row yields exactly one output row, in input order.
//!
//! # Memory
//!
//! Sources are never loaded whole. Each view's Parquet files are streamed in record batches
//! of a few thousand rows, projected to the key, time and feature columns. Per entity row the
//! join keeps only its best candidate so far: its event and created times and its feature
//! values (taken out of the batch, see `KeptValues`). Memory is therefore
//! O(workers × (entity rows × requested features + one batch)), independent of the source
//! size: per view and worker, about 60 bytes of bookkeeping per entity row, and per feature at
//! most `2 × entity rows + 64 Ki + one batch` values (the kept values plus not yet compacted,
//! superseded ones). Workers are the threads one view's join runs on (the machine's cores,
//! divided between the request's views).
//! The entity frame itself is held in memory: it is the caller's input and the output's base.
//!
//! # Work
//!
//! Entity rows are grouped by key and sorted by time, so each source row costs a hash lookup
//! and a binary search, plus one step per entity row whose best it improves. A view's row
//! groups are cut into consecutive shares, one per worker; each worker joins its share against
//! the shared entity index, and the partial results merge row by row (the better candidate
//! wins, a complete tie going to the earlier share, as if one reader had read them all in
//! order). Decoding and joining run on blocking threads, never on the async workers.

mod entity_frame;
mod entity_index;
mod error;
mod historical_features;
mod kept_values;
pub(crate) mod keys;
pub(crate) mod object_reader;
mod point_in_time;
pub(crate) mod source;
pub(crate) mod timestamps;
mod view_rows;
mod window_join;

#[cfg(test)]
mod tests;

pub use entity_frame::{EVENT_TIMESTAMP, EntityFormat, read_entity_frame, write_parquet};
pub use error::OfflineError;
pub use historical_features::historical_features;
pub use source::FeatureViewSource;
pub use view_rows::view_rows;
