use arrow::datatypes::{DataType, Schema};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::error::OfflineError;
use super::keys::KeyKind;
use crate::aggregation::Aggregation;

/// One feature view to join onto an entity frame: where its rows live and which columns to take.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureViewSource {
    /// The feature view's name; prefixes the output columns with full feature names.
    pub name: String,
    /// A Parquet file, or a prefix under which every `*.parquet` file is read.
    pub location: Path,
    /// Columns present in both the entity frame and the source; several make a composite key.
    pub join_keys: Vec<String>,
    /// The source's event time column (a timestamp of any unit, with or without a zone).
    pub timestamp_field: String,
    /// Breaks ties between rows with the same event time: the later created time wins.
    pub created_timestamp_field: Option<String>,
    /// How far back from an entity row's time a source row may lie; zero means no limit.
    pub ttl: std::time::Duration,
    /// The source columns to return (of an aggregated view: the columns its aggregations read).
    pub features: Vec<String>,
    /// Window aggregations over the source's events; when there are any, they are what the
    /// view returns, computed as of each entity row's time (see [`crate::aggregation`]).
    pub aggregations: Vec<Aggregation>,
}

impl FeatureViewSource {
    /// The names of what the view returns: its aggregations' outputs, or its features.
    pub fn outputs(&self) -> Vec<&str> {
        if self.aggregations.is_empty() {
            self.features.iter().map(String::as_str).collect()
        } else {
            self.aggregations.iter().map(|a| a.output.as_str()).collect()
        }
    }

    /// The output column for `feature`: `view__feature` with full feature names, else `feature`.
    pub fn output_name(&self, feature: &str, full_feature_names: bool) -> String {
        if full_feature_names {
            format!("{}__{feature}", self.name)
        } else {
            feature.to_owned()
        }
    }
}

/// The Parquet files of a source in the order they are read: the object itself, or every
/// `*.parquet` object under the prefix in path order.
pub(crate) async fn source_files(
    store: &dyn ObjectStore,
    view: &FeatureViewSource,
) -> Result<Vec<ObjectMeta>, OfflineError> {
    match store.head(&view.location).await {
        // Some stores (a prefixed S3 store) report the location with their prefix: keep ours.
        Ok(file) => {
            return Ok(vec![ObjectMeta {
                location: view.location.clone(),
                ..file
            }]);
        }
        Err(object_store::Error::NotFound { .. }) => {}
        Err(err) => return Err(err.into()),
    }
    let mut files: Vec<ObjectMeta> = store
        .list(Some(&view.location))
        .try_filter(|file| futures::future::ready(file.location.extension() == Some("parquet")))
        .try_collect()
        .await?;
    if files.is_empty() {
        return Err(OfflineError::SourceNotFound {
            view: view.name.clone(),
            location: view.location.to_string(),
        });
    }
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

/// The columns one source file contributes to a view, checked against what the view needs.
pub(super) struct FileLayout {
    /// Indices of the needed top-level columns, for the Parquet projection.
    pub projection: Vec<usize>,
    pub feature_types: Vec<DataType>,
}

impl FileLayout {
    /// Checks that `schema` (of `file`) has every column the view needs, with usable types;
    /// `entity_key_types` are the entity frame's types of the view's join keys.
    pub(super) fn check(
        view: &FeatureViewSource,
        entity_key_types: &[DataType],
        schema: &Schema,
        file: &Path,
    ) -> Result<FileLayout, OfflineError> {
        let mut projection = Vec::new();
        let mut find = |column: &str, role: &'static str| {
            let (index, field) =
                schema
                    .column_with_name(column)
                    .ok_or_else(|| OfflineError::MissingSourceColumn {
                        view: view.name.clone(),
                        file: file.to_string(),
                        column: column.to_owned(),
                        role,
                    })?;
            projection.push(index);
            Ok::<_, OfflineError>(field.data_type().clone())
        };
        let mut key_types = Vec::new();
        for key in &view.join_keys {
            key_types.push(find(key, "join key")?);
        }
        let mut time_types = vec![(
            &view.timestamp_field,
            find(&view.timestamp_field, "event timestamp")?,
        )];
        if let Some(created) = &view.created_timestamp_field {
            time_types.push((created, find(created, "created timestamp")?));
        }
        let feature_types = view
            .features
            .iter()
            .map(|feature| find(feature, "requested feature"))
            .collect::<Result<Vec<_>, _>>()?;
        projection.sort_unstable();
        projection.dedup();

        for ((key, source_type), entity_type) in view.join_keys.iter().zip(&key_types).zip(entity_key_types) {
            match KeyKind::of(source_type) {
                None => {
                    return Err(OfflineError::UnsupportedKeyType {
                        view: view.name.clone(),
                        key: key.clone(),
                        side: "source",
                        found: source_type.clone(),
                    });
                }
                Some(kind) if Some(kind) != KeyKind::of(entity_type) => {
                    return Err(OfflineError::KeyTypeMismatch {
                        view: view.name.clone(),
                        key: key.clone(),
                        entity_type: entity_type.clone(),
                        source_type: source_type.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        for (column, data_type) in time_types {
            if !matches!(data_type, DataType::Timestamp(..)) {
                return Err(OfflineError::SourceTimestampType {
                    view: view.name.clone(),
                    file: file.to_string(),
                    column: column.clone(),
                    found: data_type,
                });
            }
        }
        Ok(FileLayout {
            projection,
            feature_types,
        })
    }
}
