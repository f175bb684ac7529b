//! The training set as Lathe's historical retrieval writes it, reduced to a feature matrix and
//! a 0/1 label: entity and timestamp columns are ignored, rows with a null feature or label
//! are dropped and counted.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::TrainError;

/// Complete rows of the training set: `features[row * width + column]`, and `labels[row]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub feature_names: Vec<String>,
    pub features: Vec<f64>,
    pub labels: Vec<u8>,
    /// Rows left out for a null feature or label.
    pub dropped_rows: usize,
}

impl Dataset {
    /// The number of features per row.
    pub fn width(&self) -> usize {
        self.feature_names.len()
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// The features of row `row`.
    pub fn row(&self, row: usize) -> &[f64] {
        let width = self.width();
        &self.features[row * width..(row + 1) * width]
    }

    /// Reads a Parquet training set.
    pub fn read_parquet(path: &Path, features: &[String], label: &str) -> Result<Dataset, TrainError> {
        let read_error = |reason: String| TrainError::Read {
            path: path.to_owned(),
            reason,
        };
        let file = File::open(path).map_err(|error| read_error(error.to_string()))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|error| read_error(error.to_string()))?;
        let schema = builder.schema().clone();
        let reader = builder.build().map_err(|error| read_error(error.to_string()))?;
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| read_error(error.to_string()))?;
        Dataset::from_batches(&schema, &batches, features, label)
    }

    /// Builds the dataset from record batches of `schema`.
    pub fn from_batches(
        schema: &Schema,
        batches: &[RecordBatch],
        features: &[String],
        label: &str,
    ) -> Result<Dataset, TrainError> {
        if features.is_empty() {
            return Err(TrainError::NoFeatures);
        }
        let available = || {
            schema
                .fields()
                .iter()
                .map(|field| field.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut feature_columns = Vec::with_capacity(features.len());
        for name in features {
            let (index, field) = schema
                .column_with_name(name)
                .ok_or_else(|| TrainError::MissingColumn {
                    column: name.clone(),
                    option: "features",
                    available: available(),
                })?;
            if !field.data_type().is_numeric() {
                return Err(TrainError::NonNumericFeature {
                    column: name.clone(),
                    data_type: field.data_type().to_string(),
                });
            }
            feature_columns.push(index);
        }
        let (label_column, label_field) =
            schema
                .column_with_name(label)
                .ok_or_else(|| TrainError::MissingColumn {
                    column: label.to_owned(),
                    option: "label",
                    available: available(),
                })?;
        if !(label_field.data_type().is_integer() || *label_field.data_type() == DataType::Boolean) {
            return Err(TrainError::LabelType {
                column: label.to_owned(),
                data_type: label_field.data_type().to_string(),
            });
        }

        let mut dataset = Dataset {
            feature_names: features.to_vec(),
            features: Vec::new(),
            labels: Vec::new(),
            dropped_rows: 0,
        };
        for batch in batches {
            let columns = feature_columns
                .iter()
                .zip(features)
                .map(|(&index, name)| as_f64(batch.column(index), name))
                .collect::<Result<Vec<_>, _>>()?;
            let labels = cast(batch.column(label_column), &DataType::Int64)
                .expect("booleans and integers cast to Int64");
            let labels = labels.as_primitive::<Int64Type>();
            'rows: for row in 0..batch.num_rows() {
                if labels.is_null(row) || columns.iter().any(|column| column.is_null(row)) {
                    dataset.dropped_rows += 1;
                    continue 'rows;
                }
                let label = match labels.value(row) {
                    0 => 0,
                    1 => 1,
                    value => {
                        return Err(TrainError::LabelValue {
                            column: label.to_owned(),
                            value,
                        });
                    }
                };
                dataset.features.extend(
                    columns
                        .iter()
                        .map(|column| column.as_primitive::<Float64Type>().value(row)),
                );
                dataset.labels.push(label);
            }
        }
        if dataset.labels.is_empty() {
            return Err(TrainError::Empty {
                dropped: dataset.dropped_rows,
            });
        }
        if let Some(&first) = dataset.labels.first()
            && dataset.labels.iter().all(|&label| label == first)
        {
            return Err(TrainError::SingleClass { class: first });
        }
        Ok(dataset)
    }
}

/// A numeric column as float64 (nulls kept).
fn as_f64(column: &ArrayRef, name: &str) -> Result<ArrayRef, TrainError> {
    cast(column, &DataType::Float64).map_err(|_| TrainError::NonNumericFeature {
        column: name.to_owned(),
        data_type: column.data_type().to_string(),
    })
}
