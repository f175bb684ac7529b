//! Offline store: point-in-time correct historical retrieval over Parquet sources.
