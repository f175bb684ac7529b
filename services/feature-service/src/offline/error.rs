use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode};
use parquet::errors::ParquetError;

/// Why a historical retrieval failed. The user-facing variants say what to change.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(
        "the entity frame has no `event_timestamp` column; add one holding the time at which each row's \
         features are wanted"
    )]
    MissingEventTimestamp,

    #[error(
        "the entity frame's `event_timestamp` column is {found}; it must be a timestamp \
         (e.g. 2024-01-31T12:00:00Z)"
    )]
    EventTimestampType { found: DataType },

    #[error(
        "entity row {row} has no `event_timestamp`; every row needs the time at which its features are wanted"
    )]
    NullEventTimestamp { row: usize },

    #[error("the entity frame has {rows} rows; split it into frames of at most {max} rows")]
    TooManyEntityRows { rows: usize, max: usize },

    #[error("the entity frame has no `{key}` column, a join key of feature view `{view}`; add it")]
    MissingJoinKey { view: String, key: String },

    #[error(
        "join key `{key}` of feature view `{view}` is {found} in the {side}; join keys must be integers or \
         strings"
    )]
    UnsupportedKeyType {
        view: String,
        key: String,
        side: &'static str,
        found: DataType,
    },

    #[error(
        "join key `{key}` is {entity_type} in the entity frame but {source_type} in the source of feature view \
         `{view}`; cast one side so that both are integers or both are strings"
    )]
    KeyTypeMismatch {
        view: String,
        key: String,
        entity_type: DataType,
        source_type: DataType,
    },

    #[error(
        "output column `{column}` would appear more than once; request full feature names \
         (`view__feature`) or rename the clashing entity column"
    )]
    DuplicateOutputColumn { column: String },

    #[error(
        "feature view `{view}` has no Parquet data at `{location}`; check the source path, or materialize the \
         source first"
    )]
    SourceNotFound { view: String, location: String },

    #[error(
        "source file `{file}` of feature view `{view}` has no column `{column}` (the {role}); fix the feature \
         view definition or the data"
    )]
    MissingSourceColumn {
        view: String,
        file: String,
        column: String,
        role: &'static str,
    },

    #[error(
        "column `{column}` in source file `{file}` of feature view `{view}` is {found}; the event and created \
         timestamp columns must be timestamps"
    )]
    SourceTimestampType {
        view: String,
        file: String,
        column: String,
        found: DataType,
    },

    #[error(
        "feature `{column}` of feature view `{view}` is {found} in `{file}` but {expected} in an earlier file; \
         rewrite the source files with one type per column"
    )]
    FeatureTypeMismatch {
        view: String,
        file: String,
        column: String,
        expected: DataType,
        found: DataType,
    },

    #[error(
        "join key `{key}` of feature view `{view}` is {found} in `{file}` but {expected} in an earlier file; \
         rewrite the source files with integer keys throughout or string keys throughout"
    )]
    SourceKeyTypeMismatch {
        view: String,
        file: String,
        key: String,
        expected: DataType,
        found: DataType,
    },

    #[error(
        "column `{column}` of feature view `{view}`'s source cannot be aggregated: {reason}; change the \
         aggregation's function or the column's type"
    )]
    AggregationColumnType {
        view: String,
        column: String,
        reason: String,
    },

    #[error(
        "the rows of feature view `{view}` in the range take more than {max_bytes} bytes; ask for a shorter \
         range or fewer features"
    )]
    TooManyRows { view: String, max_bytes: usize },

    #[error("the entity frame is not valid {format}: {reason}")]
    UnreadableEntityFrame { format: &'static str, reason: String },

    #[error("cannot read source file `{file}` of feature view `{view}`: {source}")]
    ReadSource {
        view: String,
        file: String,
        source: ParquetError,
    },

    #[error("object store: {0}")]
    Storage(#[from] object_store::Error),

    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),

    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),

    #[error("retrieval task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<OfflineError> for Error {
    fn from(err: OfflineError) -> Self {
        match err {
            OfflineError::MissingEventTimestamp
            | OfflineError::EventTimestampType { .. }
            | OfflineError::NullEventTimestamp { .. }
            | OfflineError::TooManyEntityRows { .. }
            | OfflineError::MissingJoinKey { .. }
            | OfflineError::UnreadableEntityFrame { .. } => {
                Error::invalid(err.to_string()).with_reason(reasons::INVALID_ENTITY_FRAME)
            }
            OfflineError::UnsupportedKeyType { .. }
            | OfflineError::KeyTypeMismatch { .. }
            | OfflineError::MissingSourceColumn { .. }
            | OfflineError::SourceTimestampType { .. }
            | OfflineError::FeatureTypeMismatch { .. }
            | OfflineError::SourceKeyTypeMismatch { .. }
            | OfflineError::AggregationColumnType { .. } => {
                Error::invalid(err.to_string()).with_reason(reasons::INCOMPATIBLE_SOURCE)
            }
            OfflineError::DuplicateOutputColumn { .. } => {
                Error::invalid(err.to_string()).with_reason(reasons::DUPLICATE_OUTPUT_COLUMN)
            }
            OfflineError::TooManyRows { .. } => Error::new(ErrorCode::ResourceExhausted, err.to_string()),
            OfflineError::SourceNotFound { .. } => Error::of(reasons::SOURCE_NOT_FOUND, err.to_string()),
            OfflineError::ReadSource { .. }
            | OfflineError::Storage(_)
            | OfflineError::Arrow(_)
            | OfflineError::Parquet(_)
            | OfflineError::Task(_) => Error::internal(err),
        }
    }
}
