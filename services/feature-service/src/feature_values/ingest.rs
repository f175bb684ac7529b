//! Ingest: a file (Parquet or CSV) written as a new Parquet file under a file source's folder,
//! once its columns and types are checked against every feature view that reads the source
//! (directly, or as a push source's batch source). A mismatch is a 422 naming the column, and
//! nothing is written; so is a file that cannot be read to its end.
//!
//! The file arrives spooled to a local temporary file, is read batch by batch (CSV columns the
//! views need are parsed as their declared types, the others as inferred) and written again as
//! Parquet to a second temporary file, which is then streamed to the object store: memory
//! stays at one batch whatever the file's size.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::sync::Arc;

use arrow::array::RecordBatchReader;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as pb;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::io::AsyncWriteExt;

use super::FeatureValues;
use crate::aggregation;
use crate::definitions::model::{DATA_SOURCE, FEATURE_VIEW, Spec};
use crate::definitions::spec::{FeatureType, Scalar, SourceSpec};

fn mismatch(message: String) -> Error {
    Error::new(ErrorCode::Unprocessable, message).with_reason(reasons::INGEST_SCHEMA_MISMATCH)
}

/// What a column must be for the views that read the source.
#[derive(Debug, Clone)]
enum Need {
    /// A join key: an integer or a string column.
    Key(Scalar),
    Timestamp,
    Feature(FeatureType),
    /// Read by aggregations; numeric ones need numbers.
    Aggregated {
        numeric: bool,
    },
}

/// One column the file must have, who needs it and as what.
#[derive(Debug, Clone)]
struct Required {
    column: String,
    need: Need,
    /// "feature view 'v' (join key)", for messages.
    by: String,
}

/// The kind a declared scalar or an Arrow type falls in: types of one kind are interchangeable.
fn kind(data_type: &DataType) -> &'static str {
    if data_type.is_integer() {
        "integer"
    } else if data_type.is_floating()
        || matches!(data_type, DataType::Decimal128(..) | DataType::Decimal256(..))
    {
        "float"
    } else if let DataType::Timestamp(..) = data_type {
        "timestamp"
    } else if let DataType::Boolean = data_type {
        "bool"
    } else if matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        "string"
    } else if matches!(
        data_type,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    ) {
        "bytes"
    } else if matches!(data_type, DataType::List(_) | DataType::LargeList(_)) {
        "list"
    } else {
        "other"
    }
}

/// The Arrow type a CSV column needed as `scalar` is parsed as.
fn csv_type(scalar: Scalar) -> DataType {
    match scalar {
        Scalar::Int32 => DataType::Int32,
        Scalar::Int64 => DataType::Int64,
        Scalar::Float32 => DataType::Float32,
        Scalar::Float64 => DataType::Float64,
        Scalar::Bool => DataType::Boolean,
        Scalar::String | Scalar::Bytes => DataType::Utf8,
        // Arrow without chrono-tz parses offsets only: read at offset zero, the same instants.
        Scalar::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
    }
}

impl Need {
    /// Why a column of `data_type` does not do, if it does not.
    fn refuses(&self, data_type: &DataType) -> Option<String> {
        let found = kind(data_type);
        let wanted = match self {
            Need::Key(scalar) => kind(&csv_type(*scalar)),
            Need::Timestamp => "timestamp",
            Need::Feature(declared) if declared.list => "list",
            Need::Feature(declared) if declared.scalar == Scalar::Bytes => "bytes",
            Need::Feature(declared) => kind(&csv_type(declared.scalar)),
            Need::Aggregated { numeric: true } => {
                return (!data_type.is_numeric())
                    .then(|| format!("is {data_type}; its aggregations need numbers"));
            }
            Need::Aggregated { numeric: false } => return None,
        };
        (found != wanted).then(|| format!("is {data_type}, not {wanted}"))
    }

    /// The type a CSV column needed so is parsed as; `None`: as inferred.
    fn csv_type(&self) -> Option<DataType> {
        match self {
            Need::Key(scalar) => Some(csv_type(*scalar)),
            Need::Timestamp => Some(csv_type(Scalar::Timestamp)),
            Need::Feature(declared) if !declared.list => Some(csv_type(declared.scalar)),
            Need::Feature(_) => None,
            Need::Aggregated { numeric: true } => Some(DataType::Float64),
            Need::Aggregated { numeric: false } => None,
        }
    }
}

impl FeatureValues {
    /// The file source a header names, with its folder; refused when there is none to write
    /// into (checked before the file is received, and again before it is written).
    pub async fn ingest_target(&self, header: &pb::IngestFileHeader) -> Result<(SourceSpec, String)> {
        let project = &header.project;
        let source = match self
            .definitions
            .get_recent(project, DATA_SOURCE, &header.source)
            .await?
            .map(|s| s.spec.clone())
        {
            Some(Spec::Source(source)) => source,
            _ => {
                return Err(Error::of(
                    reasons::DATA_SOURCE_NOT_FOUND,
                    format!(
                        "data source '{}' does not exist in project '{project}'",
                        header.source
                    ),
                ));
            }
        };
        let Some(file) = source.file.clone() else {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "data source '{}' is a push source; ingest into its batch source, or push rows to it",
                    source.name
                ),
            ));
        };
        if file.path.ends_with(".parquet") {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "data source '{}' is one file ({}); make its path a folder to ingest files into it",
                    source.name, file.path
                ),
            ));
        }
        Ok((source, file.path))
    }

    /// Checks the file spooled at `spooled` against the views reading the header's source, and
    /// writes it under the source's folder.
    pub async fn ingest(
        &self,
        header: pb::IngestFileHeader,
        spooled: File,
    ) -> Result<pb::IngestFileResponse> {
        let project = &header.project;
        let (source, folder) = self.ingest_target(&header).await?;
        let (required, views) = self.required_columns(project, &source).await?;
        let csv = pb::EntityFrameFormat::try_from(header.format) == Ok(pb::EntityFrameFormat::Csv);
        let (converted, rows, columns) =
            tokio::task::spawn_blocking(move || convert(spooled, csv, &required))
                .await
                .map_err(Error::internal)??;
        let path = Path::from(format!(
            "{}/ingested-{}-{}.parquet",
            folder.trim_end_matches('/'),
            chrono::Utc::now().format("%Y%m%dT%H%M%S%6f"),
            uuid::Uuid::new_v4().simple()
        ));
        let mut reader = tokio::fs::File::from_std(converted);
        let mut writer = BufWriter::new(self.objects.clone(), path.clone());
        let copied = tokio::io::copy(&mut reader, &mut writer).await;
        match copied {
            Ok(_) => writer
                .shutdown()
                .await
                .map_err(|e| Error::internal(format_args!("writing {path}: {e}")))?,
            Err(err) => {
                let _ = writer.abort().await;
                return Err(Error::internal(format_args!("writing {path}: {err}")));
            }
        }
        tracing::info!(project, source = %source.name, %path, rows, "ingested a file");
        Ok(pb::IngestFileResponse {
            path: path.to_string(),
            rows,
            columns,
            feature_views: views,
        })
    }

    /// The columns the views reading `source` need, and those views' names.
    async fn required_columns(
        &self,
        project: &str,
        source: &SourceSpec,
    ) -> Result<(Vec<Required>, Vec<String>)> {
        let push_sources: Vec<String> = self
            .definitions
            .list(project, Some(DATA_SOURCE))
            .await?
            .into_iter()
            .filter_map(|s| match s.spec {
                Spec::Source(push)
                    if push.push.as_ref().and_then(|p| p.batch_source.as_deref()) == Some(&source.name) =>
                {
                    Some(push.name)
                }
                Spec::Source(_) | Spec::Entity(_) | Spec::View(_) | Spec::Service(_) => None,
            })
            .collect();
        let mut required = vec![Required {
            column: source.timestamp_field.clone(),
            need: Need::Timestamp,
            by: format!("data source '{}' (its timestamp field)", source.name),
        }];
        if let Some(created) = &source.created_timestamp_field {
            required.push(Required {
                column: created.clone(),
                need: Need::Timestamp,
                by: format!("data source '{}' (its created timestamp field)", source.name),
            });
        }
        let mut views = Vec::new();
        for stored in self.definitions.list(project, Some(FEATURE_VIEW)).await? {
            let Spec::View(view) = stored.spec else { continue };
            if view.source != source.name && !push_sources.contains(&view.source) {
                continue;
            }
            for key in self.join_keys(project, &view).await? {
                let scalar = FeatureType::parse(&key.dtype).map_or(Scalar::Int64, |t| t.scalar);
                required.push(Required {
                    column: key.name.clone(),
                    need: Need::Key(scalar),
                    by: format!("feature view '{}' (a join key)", view.name),
                });
            }
            let aggregations = aggregation::of_view(&view, None);
            if aggregations.is_empty() {
                for field in &view.schema {
                    let declared = FeatureType::parse(&field.dtype)
                        .ok_or_else(|| Error::internal("stored type unreadable"))?;
                    required.push(Required {
                        column: field.name.clone(),
                        need: Need::Feature(declared),
                        by: format!("feature view '{}' (a {} feature)", view.name, declared.name()),
                    });
                }
            }
            for aggregation in &aggregations {
                required.push(Required {
                    column: aggregation.column.clone(),
                    need: Need::Aggregated {
                        numeric: aggregation.function.numeric(),
                    },
                    by: format!("feature view '{}' ({})", view.name, aggregation.output),
                });
            }
            views.push(view.name);
        }
        Ok((required, views))
    }
}

/// Reads the spooled file (checking every required column) into a Parquet temporary file;
/// returns it, rewound, with the row count and the column names.
fn convert(mut spooled: File, csv: bool, required: &[Required]) -> Result<(File, u64, Vec<String>)> {
    spooled
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::internal(format_args!("spooled file: {e}")))?;
    let unreadable = |what: &str, e: &dyn std::fmt::Display| {
        Error::invalid(format!("the file is not readable {what}: {e}")).with_reason(reasons::INVALID_BODY)
    };
    let reader: Box<dyn RecordBatchReader + Send> = if csv {
        let format = Format::default().with_header(true);
        let (inferred, _) = format
            .infer_schema(&mut spooled, Some(10_000))
            .map_err(|e| unreadable("as CSV", &e))?;
        spooled
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::internal(format_args!("spooled file: {e}")))?;
        let fields: Vec<Field> = inferred
            .fields()
            .iter()
            .map(|field| {
                let typed = required
                    .iter()
                    .find(|r| r.column == *field.name())
                    .and_then(|r| r.need.csv_type());
                match typed {
                    Some(data_type) => Field::new(field.name(), data_type, true),
                    None => field.as_ref().clone(),
                }
            })
            .collect();
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        check_columns(&schema, required)?;
        Box::new(
            arrow::csv::ReaderBuilder::new(schema)
                .with_format(format)
                .build(spooled)
                .map_err(|e| unreadable("as CSV", &e))?,
        )
    } else {
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(spooled).map_err(|e| unreadable("as Parquet", &e))?;
        check_columns(builder.schema(), required)?;
        Box::new(builder.build().map_err(|e| unreadable("as Parquet", &e))?)
    };
    let schema = reader.schema();
    let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    let out = tempfile::tempfile().map_err(|e| Error::internal(format_args!("temporary file: {e}")))?;
    let mut writer = ArrowWriter::try_new(
        out.try_clone()
            .map_err(|e| Error::internal(format_args!("temporary file: {e}")))?,
        schema.clone(),
        None,
    )
    .map_err(|e| Error::internal(format_args!("parquet writer: {e}")))?;
    let mut rows = 0u64;
    for batch in reader {
        // A value that does not parse as its column's type: name the column (Arrow's CSV
        // reader gives its position).
        let batch = batch.map_err(|e| {
            let message = e.to_string();
            let column = message
                .split_once("for column ")
                .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|index| index.parse::<usize>().ok())
                .and_then(|index| schema.fields().get(index))
                .map_or_else(String::new, |field| format!("column '{}': ", field.name()));
            mismatch(format!("{column}{message}; nothing was written"))
        })?;
        rows += batch.num_rows() as u64;
        writer
            .write(&batch)
            .map_err(|e| Error::internal(format_args!("parquet writer: {e}")))?;
    }
    let mut out = writer
        .into_inner()
        .map_err(|e| Error::internal(format_args!("parquet writer: {e}")))?;
    out.seek(SeekFrom::Start(0))
        .map_err(|e| Error::internal(format_args!("temporary file: {e}")))?;
    Ok((out, rows, columns))
}

/// Every required column is in `schema` with a type that fits, or the first that is not is named.
fn check_columns(schema: &Schema, required: &[Required]) -> Result<()> {
    for r in required {
        let Ok(field) = schema.field_with_name(&r.column) else {
            return Err(mismatch(format!(
                "column '{}' is missing: {} reads it; nothing was written",
                r.column, r.by
            )));
        };
        if let Some(why) = r.need.refuses(field.data_type()) {
            return Err(mismatch(format!(
                "column '{}' {why}, as {} needs it; nothing was written",
                r.column, r.by
            )));
        }
    }
    Ok(())
}
