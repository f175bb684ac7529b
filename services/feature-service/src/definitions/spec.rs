//! The definitions of a feature repository as users write them (YAML) and as they are stored
//! (canonical JSON): entities, data sources, feature views and feature services.

use std::collections::BTreeMap;
use std::fmt;

use lathe_contract::features::v1 as pb;
use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The least a file may always expand to through its aliases, in bytes (see [`expansion_limit`]).
pub const EXPANSION_FLOOR: usize = 1024 * 1024;
/// How many times its own size a larger file may expand to.
pub const EXPANSION_FACTOR: usize = 4;

/// What a file of `file_len` bytes may expand to, counting each node's scalar text plus one
/// byte per node: the larger of 1 MiB and 4 times the file. Each node of a file without
/// aliases takes at least a byte of it, so only alias amplification ("billion laughs", or one
/// large anchor named thousands of times) comes near it; small shared blocks stay far below.
pub fn expansion_limit(file_len: usize) -> usize {
    EXPANSION_FLOOR.max(file_len.saturating_mul(EXPANSION_FACTOR))
}

/// Why one YAML file of a repository could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(
        "expands to more than {limit} bytes through its aliases (anchors `&` named again with `*`); \
         a file may expand to the larger of 1 MiB and {EXPANSION_FACTOR} times its own size"
    )]
    TooLarge { limit: usize },
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
}

/// Parses one YAML file of a repository. Its expansion is measured first, by a walk that keeps
/// nothing and stops as soon as [`expansion_limit`] is crossed, so an amplifying file costs no
/// more than the limit; only then is it parsed into its types (with line and column in errors).
pub fn parse_file(content: &str) -> Result<RepositoryFile, ParseError> {
    let limit = expansion_limit(content.len());
    let mut tally = Tally {
        left: limit,
        exceeded: false,
    };
    let walked = ExpansionWalk(&mut tally).deserialize(serde_yaml::Deserializer::from_str(content));
    if walked.is_err() && tally.exceeded {
        return Err(ParseError::TooLarge { limit });
    }
    // Any other error of the walk is in the YAML itself: the typed parse reports it in context.
    Ok(serde_yaml::from_str(content)?)
}

/// What is left of the expansion budget, and whether it ran out.
struct Tally {
    left: usize,
    exceeded: bool,
}

/// Visits every node of a document as its aliases expand, spending the budget of a [`Tally`].
struct ExpansionWalk<'a>(&'a mut Tally);

impl ExpansionWalk<'_> {
    /// Spends one byte for the node plus `text` bytes of scalar.
    fn spend<E: de::Error>(&mut self, text: usize) -> Result<(), E> {
        match self.0.left.checked_sub(text.saturating_add(1)) {
            Some(left) => {
                self.0.left = left;
                Ok(())
            }
            None => {
                self.0.exceeded = true;
                Err(E::custom("expansion limit exceeded"))
            }
        }
    }

    fn child(&mut self) -> ExpansionWalk<'_> {
        ExpansionWalk(&mut *self.0)
    }
}

impl<'de> DeserializeSeed<'de> for ExpansionWalk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ExpansionWalk<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_i64<E: de::Error>(mut self, _: i64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_u64<E: de::Error>(mut self, _: u64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_str<E: de::Error>(mut self, text: &str) -> Result<(), E> {
        self.spend(text.len())
    }

    fn visit_bytes<E: de::Error>(mut self, bytes: &[u8]) -> Result<(), E> {
        self.spend(bytes.len())
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_none<E: de::Error>(mut self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_some<D: Deserializer<'de>>(mut self, deserializer: D) -> Result<(), D::Error> {
        self.spend(0)?;
        self.deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(mut self, deserializer: D) -> Result<(), D::Error> {
        self.spend(0)?;
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while seq.next_element_seed(self.child())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while map.next_key_seed(self.child())?.is_some() {
            map.next_value_seed(self.child())?;
        }
        Ok(())
    }

    /// A tagged node (`!tag value`): the tag, then its value.
    fn visit_enum<A: EnumAccess<'de>>(mut self, data: A) -> Result<(), A::Error> {
        self.spend(0)?;
        let ((), value) = data.variant_seed(self.child())?;
        value.newtype_variant_seed(self)
    }
}

/// One YAML file of a feature repository; every section is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryFile {
    pub project: Option<String>,
    #[serde(default)]
    pub entities: Vec<EntitySpec>,
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    #[serde(default)]
    pub feature_views: Vec<FeatureViewSpec>,
    #[serde(default)]
    pub feature_services: Vec<FeatureServiceSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinKeySpec {
    pub name: String,
    #[serde(rename = "type")]
    pub dtype: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    pub name: String,
    pub join_keys: Vec<JoinKeySpec>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub owner: String,
}

impl EntitySpec {
    /// An entity as the wire gives it (the API checks its join key types first; an
    /// unspecified one is kept as "unspecified").
    pub fn from_wire(name: &str, join_keys: &[pb::JoinKey], description: &str) -> EntitySpec {
        EntitySpec {
            name: name.to_owned(),
            join_keys: join_keys
                .iter()
                .map(|k| JoinKeySpec {
                    name: k.name.clone(),
                    dtype: Scalar::from_value_type(k.value_type)
                        .map_or_else(|| "unspecified".to_owned(), |s| s.name().to_owned()),
                })
                .collect(),
            description: description.to_owned(),
            tags: Default::default(),
            owner: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceSpec {
    /// A Parquet file, or a prefix whose `*.parquet` files form the source, on the feature
    /// service's object store.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSourceSpec {
    /// File source that receives pushed rows bound for the offline store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSourceSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSourceSpec>,
    #[serde(default = "default_timestamp_field")]
    pub timestamp_field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_timestamp_field: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub owner: String,
}

fn default_timestamp_field() -> String {
    "event_timestamp".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub dtype: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureViewSpec {
    pub name: String,
    pub entities: Vec<String>,
    #[serde(default)]
    pub schema: Vec<FieldSpec>,
    /// How long a value stays valid; 0 means forever. YAML takes seconds or `30s`, `15m`, `2h`, `1d`, `1w`.
    #[serde(
        default,
        rename = "ttl",
        deserialize_with = "duration_seconds",
        serialize_with = "serialize_seconds"
    )]
    pub ttl_seconds: u64,
    #[serde(default = "default_true")]
    pub online: bool,
    pub source: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub description: String,
    /// Window aggregations over the source's events; when present they are the view's
    /// features (its `schema` is derived from them, see [`crate::aggregation`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregations: Vec<AggregationSpec>,
    /// How far behind the present a pushed event may be and still reach the online state of
    /// an aggregated view (default: its longest window); later ones are counted, not applied.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_duration_seconds"
    )]
    pub allowed_lateness: Option<u64>,
}

/// One window aggregation of a feature view: `function` of `column` over the `window` that
/// ends at the lookup time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationSpec {
    pub column: String,
    pub function: AggregateFunction,
    /// Seconds; YAML takes `1h`, `7d` and the like.
    #[serde(deserialize_with = "duration_seconds", serialize_with = "serialize_seconds")]
    pub window: u64,
}

/// What an aggregation computes over the values of its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFunction {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    Stddev,
    Last,
    ApproxCountDistinct,
}

impl AggregateFunction {
    pub const ALL: [AggregateFunction; 8] = [
        AggregateFunction::Count,
        AggregateFunction::Sum,
        AggregateFunction::Mean,
        AggregateFunction::Min,
        AggregateFunction::Max,
        AggregateFunction::Stddev,
        AggregateFunction::Last,
        AggregateFunction::ApproxCountDistinct,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Mean => "mean",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::Stddev => "stddev",
            AggregateFunction::Last => "last",
            AggregateFunction::ApproxCountDistinct => "approx_count_distinct",
        }
    }

    /// Whether it reads its column as numbers (count and distinct count take any scalar).
    pub fn numeric(self) -> bool {
        !matches!(
            self,
            AggregateFunction::Count | AggregateFunction::ApproxCountDistinct
        )
    }

    /// The type of its result: counts are int64, everything else float64.
    pub fn output_type(self) -> Scalar {
        if self.numeric() {
            Scalar::Float64
        } else {
            Scalar::Int64
        }
    }
}

impl AggregationSpec {
    /// `{column}_{function}_{window}`, the window in its largest whole unit: `fare_sum_1h`,
    /// `trip_id_count_7d`, `rating_last_90m`.
    pub fn output_name(&self) -> String {
        format!(
            "{}_{}_{}",
            self.column,
            self.function.name(),
            window_label(self.window)
        )
    }
}

/// A window as the shortest text in one unit: `7d`, `36h`, `90m`, `45s`.
pub fn window_label(seconds: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

fn optional_duration_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    duration_seconds(deserializer).map(Some)
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureServiceSpec {
    pub name: String,
    /// Feature references, `view:feature`.
    pub features: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub owner: String,
    /// Samples of the rows served online through this service, sent to a monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingSpec>,
}

/// Where a feature service logs the rows it serves online: each row independently with
/// probability `sample_rate` (0 < rate <= 1), to the project's monitor `monitor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSpec {
    pub monitor: String,
    pub sample_rate: f64,
}

fn serialize_seconds<S: serde::Serializer>(seconds: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(*seconds)
}

/// Accepts `86400`, `"86400"`, `"30s"`, `"15m"`, `"2h"`, `"1d"` or `"1w"`.
fn duration_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(text) => parse_duration(&text).map_err(serde::de::Error::custom),
    }
}

pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a duration: use e.g. 3600, 30s, 15m, 2h, 1d, 1w"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        other => return Err(format!("'{text}': unknown unit '{other}' (use s, m, h, d or w)")),
    };
    amount
        .checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too long"))
}

/// A feature's type: a scalar or a list of scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureType {
    pub scalar: Scalar,
    pub list: bool,
}

/// The scalar types of feature values: the one list of them in this service, named as a
/// repository writes them (`int64`) and mapped to the wire's `ValueType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Int32,
    Int64,
    Float32,
    Float64,
    Bool,
    String,
    Bytes,
    Timestamp,
}

impl Scalar {
    pub const ALL: [Scalar; 8] = [
        Scalar::Int32,
        Scalar::Int64,
        Scalar::Float32,
        Scalar::Float64,
        Scalar::Bool,
        Scalar::String,
        Scalar::Bytes,
        Scalar::Timestamp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scalar::Int32 => "int32",
            Scalar::Int64 => "int64",
            Scalar::Float32 => "float32",
            Scalar::Float64 => "float64",
            Scalar::Bool => "bool",
            Scalar::String => "string",
            Scalar::Bytes => "bytes",
            Scalar::Timestamp => "timestamp",
        }
    }
}

impl Scalar {
    /// The scalar of a wire `ValueType` number; `None` for unspecified or unknown.
    pub fn from_value_type(value_type: i32) -> Option<Scalar> {
        match pb::ValueType::try_from(value_type).ok()? {
            pb::ValueType::Int32 => Some(Scalar::Int32),
            pb::ValueType::Int64 => Some(Scalar::Int64),
            pb::ValueType::Float32 => Some(Scalar::Float32),
            pb::ValueType::Float64 => Some(Scalar::Float64),
            pb::ValueType::Bool => Some(Scalar::Bool),
            pb::ValueType::String => Some(Scalar::String),
            pb::ValueType::Bytes => Some(Scalar::Bytes),
            pb::ValueType::Timestamp => Some(Scalar::Timestamp),
            pb::ValueType::Unspecified => None,
        }
    }

    /// This scalar as the wire's `ValueType`.
    pub fn value_type(self) -> pb::ValueType {
        match self {
            Scalar::Int32 => pb::ValueType::Int32,
            Scalar::Int64 => pb::ValueType::Int64,
            Scalar::Float32 => pb::ValueType::Float32,
            Scalar::Float64 => pb::ValueType::Float64,
            Scalar::Bool => pb::ValueType::Bool,
            Scalar::String => pb::ValueType::String,
            Scalar::Bytes => pb::ValueType::Bytes,
            Scalar::Timestamp => pb::ValueType::Timestamp,
        }
    }
}

impl FeatureType {
    /// Parses `int64`, `list<string>` and the like (case-insensitive).
    pub fn parse(text: &str) -> Option<FeatureType> {
        let lower = text.trim().to_ascii_lowercase();
        let (inner, list) = match lower
            .strip_prefix("list<")
            .and_then(|rest| rest.strip_suffix('>'))
        {
            Some(inner) => (inner.trim().to_owned(), true),
            None => (lower, false),
        };
        Scalar::ALL
            .into_iter()
            .find(|s| s.name() == inner)
            .map(|scalar| FeatureType { scalar, list })
    }

    pub fn name(self) -> String {
        if self.list {
            format!("list<{}>", self.scalar.name())
        } else {
            self.scalar.name().to_owned()
        }
    }
}

pub const TYPE_HELP: &str =
    "use int32, int64, float32, float64, bool, string, bytes, timestamp or list<…> of these";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("86400").unwrap(), 86_400);
        assert_eq!(parse_duration("1d").unwrap(), 86_400);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn types() {
        assert_eq!(FeatureType::parse("Float32").unwrap().name(), "float32");
        assert_eq!(FeatureType::parse("list<string>").unwrap().name(), "list<string>");
        assert!(FeatureType::parse("float").is_none());
        assert!(FeatureType::parse("list<list<int64>>").is_none());
    }

    #[test]
    fn a_large_file_without_aliases_is_within_its_expansion_limit() {
        // The densest YAML there is: a one-letter item per two bytes, past the 1 MiB floor.
        let items = vec!["a"; 700_000].join(",");
        let content = format!("feature_services: [{{name: s, features: [{items}]}}]\n");
        assert!(content.len() > EXPANSION_FLOOR);
        let file = parse_file(&content).unwrap();
        assert_eq!(file.feature_services[0].features.len(), 700_000);
    }

    #[test]
    fn yaml_file_parses_with_defaults() {
        let file: RepositoryFile = serde_yaml::from_str(
            "entities:\n  - name: driver\n    join_keys: [{name: driver_id, type: int64}]\nfeature_views:\n  - name: stats\n    entities: [driver]\n    source: src\n    ttl: 2h\n    schema: [{name: conv_rate, type: float32}]\n",
        )
        .unwrap();
        assert_eq!(file.feature_views[0].ttl_seconds, 7200);
        assert!(file.feature_views[0].online);
        let err = serde_yaml::from_str::<RepositoryFile>("entitys: []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("entitys"), "{err}");
    }

    #[test]
    fn aggregations_parse_and_name_their_outputs() {
        let file: RepositoryFile = serde_yaml::from_str(
            "feature_views:\n  - name: trips\n    entities: [driver]\n    source: events\n    allowed_lateness: 10m\n    aggregations:\n      - {column: fare, function: sum, window: 1h}\n      - {column: trip_id, function: approx_count_distinct, window: 7d}\n      - {column: rating, function: last, window: 5400}\n",
        )
        .unwrap();
        let view = &file.feature_views[0];
        assert_eq!(view.allowed_lateness, Some(600));
        let names: Vec<String> = view
            .aggregations
            .iter()
            .map(AggregationSpec::output_name)
            .collect();
        assert_eq!(
            names,
            [
                "fare_sum_1h",
                "trip_id_approx_count_distinct_7d",
                "rating_last_90m"
            ]
        );
        assert_eq!(window_label(45), "45s");
        assert_eq!(window_label(129_600), "36h");
        let err = serde_yaml::from_str::<RepositoryFile>(
            "feature_views:\n  - name: t\n    entities: [d]\n    source: s\n    aggregations: [{column: fare, function: median, window: 1h}]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("median") && err.contains("approx_count_distinct"),
            "{err}"
        );
    }
}
