//! The JSON face of the contract: what the gateway's REST API sends and accepts where its
//! shape is the proto's.
//!
//! Messages get `serde` and OpenAPI (`utoipa`) derives at code generation (the table in
//! `build.rs` says which, under which schema name, and which fields come from the URL or the
//! token instead of the body). This module holds what those derives call: the JSON names of
//! the proto enums (proto keeps enums as `i32` fields), timestamps as RFC 3339 text, and the
//! one message whose JSON shape differs from its proto (a gate condition's role).

use std::borrow::Cow;
use std::fmt::Display;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::features::v1 as features;
use crate::monitor::v1 as monitor;
use crate::orchestrator::v1 as orchestrator;
use crate::registry::v1 as registry;
use crate::serving::v1 as serving;

/// A proto enum with names in JSON. Variants without a name (`UNSPECIFIED`) are never sent and
/// never accepted.
pub trait JsonEnum: Copy + Into<i32> + TryFrom<i32> + 'static {
    /// The named values, in the order of the proto's.
    const VALUES: &'static [Self];
    /// Their JSON names, in the same order.
    const JSON_NAMES: &'static [&'static str];
    /// Whether a name is accepted in any letter case.
    const ANY_CASE: bool = false;
    /// What the value is, for error messages ("stage", "run status").
    const NOUN: &'static str;

    fn json_name(self) -> Option<&'static str> {
        let number: i32 = self.into();
        Self::VALUES
            .iter()
            .position(|value| (*value).into() == number)
            .map(|at| Self::JSON_NAMES[at])
    }

    fn from_json_name(text: &str) -> Option<Self> {
        Self::JSON_NAMES
            .iter()
            .position(|name| {
                if Self::ANY_CASE {
                    name.eq_ignore_ascii_case(text)
                } else {
                    *name == text
                }
            })
            .map(|at| Self::VALUES[at])
    }
}

/// "a, b or c".
fn one_of(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn serialize_name<E: JsonEnum, S: Serializer>(value: E, serializer: S) -> Result<S::Ok, S::Error> {
    match value.json_name() {
        Some(name) => serializer.serialize_str(name),
        None => Err(S::Error::custom(format_args!(
            "{} {} has no JSON name",
            E::NOUN,
            value.into()
        ))),
    }
}

/// Refuses an unknown name the way serde's derive does (`unknown variant ...`), or, for
/// names accepted in any case, naming the noun and the expected names.
fn deserialize_name<'de, E: JsonEnum, D: Deserializer<'de>>(deserializer: D) -> Result<E, D::Error> {
    let text = Cow::<str>::deserialize(deserializer)?;
    E::from_json_name(&text).ok_or_else(|| {
        if E::ANY_CASE {
            D::Error::custom(format_args!(
                "unknown {} '{text}': expected {}",
                E::NOUN,
                one_of(E::JSON_NAMES)
            ))
        } else {
            D::Error::unknown_variant(&text, E::JSON_NAMES)
        }
    })
}

/// The OpenAPI schema of an enum: a string with its JSON names.
fn enum_schema<E: JsonEnum>(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(description))
        .enum_values(Some(E::JSON_NAMES.iter().copied()))
        .into()
}

/// Implements [`JsonEnum`], serde and OpenAPI for a proto enum.
macro_rules! json_enum {
    (
        $(#[doc = $doc:literal])+
        $ty:ty as $schema:literal, $noun:literal, any_case: $any_case:literal,
        { $($variant:ident => $name:literal),+ $(,)? }
    ) => {
        impl JsonEnum for $ty {
            const VALUES: &'static [Self] = &[$(<$ty>::$variant),+];
            const JSON_NAMES: &'static [&'static str] = &[$($name),+];
            const ANY_CASE: bool = $any_case;
            const NOUN: &'static str = $noun;
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serialize_name(*self, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserialize_name(deserializer)
            }
        }

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                enum_schema::<$ty>(concat!($($doc, "\n"),+).trim())
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($schema)
            }
        }
    };
}

json_enum! {
    /// Stage of a model version. Accepted in any letter case.
    registry::Stage as "Stage", "stage", any_case: true,
    { None => "None", Staging => "Staging", Production => "Production", Archived => "Archived" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_s_name_is_its_json_name() {
        for stage in registry::Stage::VALUES {
            assert_eq!(Some(stage.name()), stage.json_name());
            assert_eq!(
                registry::Stage::from_json_name(&stage.name().to_uppercase()),
                Some(*stage)
            );
        }
    }
}

impl registry::Stage {
    /// The stage's JSON name, which is also how the registry stores it.
    pub fn name(self) -> &'static str {
        // Every stage is named, in the order of its values (tested below).
        Self::JSON_NAMES[self as usize]
    }
}

json_enum! {
    /// State of a run. Accepted in any letter case.
    registry::RunStatus as "RunStatus", "run status", any_case: true,
    {
        Running => "RUNNING", Finished => "FINISHED", Failed => "FAILED", Killed => "KILLED",
        Scheduled => "SCHEDULED",
    }
}

json_enum! {
    /// Whether an experiment or run is live or soft-deleted.
    registry::LifecycleStage as "Lifecycle", "lifecycle stage", any_case: false,
    { Active => "active", Deleted => "deleted" }
}

json_enum! {
    /// Which experiments or runs a listing includes; `active` by default.
    registry::ViewType as "View", "view", any_case: false,
    { ActiveOnly => "active", DeletedOnly => "deleted", All => "all" }
}

json_enum! {
    /// Value types of join keys and features.
    features::ValueType as "ValueType", "value type", any_case: false,
    {
        Int32 => "int32", Int64 => "int64", Float32 => "float32", Float64 => "float64",
        Bool => "bool", String => "string", Bytes => "bytes", Timestamp => "timestamp",
    }
}

json_enum! {
    /// What applying a repository does to a definition.
    features::ChangeAction as "ChangeAction", "change action", any_case: false,
    { Unchanged => "unchanged", Create => "create", Update => "update", Delete => "delete" }
}

json_enum! {
    /// What applying pipeline definitions does to a pipeline.
    orchestrator::PipelineChangeAction as "PipelineChangeAction", "pipeline change action", any_case: false,
    { Unchanged => "unchanged", Create => "create", Update => "update" }
}

json_enum! {
    /// State of a pipeline run, with Airflow's names.
    orchestrator::RunState as "PipelineRunState", "run state", any_case: false,
    {
        Queued => "queued", Running => "running", Success => "success", Failed => "failed",
        Cancelled => "cancelled",
    }
}

json_enum! {
    /// State of a task instance, with Airflow's names; `pending` is Airflow's "none" (its
    /// upstream tasks are not done).
    orchestrator::TaskState as "TaskState", "task state", any_case: false,
    {
        Pending => "pending", Scheduled => "scheduled", Queued => "queued", Running => "running",
        Success => "success", Failed => "failed", UpForRetry => "up_for_retry", Skipped => "skipped",
        UpstreamFailed => "upstream_failed",
    }
}

json_enum! {
    /// The statistic of a column; `default` (or omitted) picks it by column kind and reference
    /// size (Evidently's rule): at most 1,000 reference rows, `ks` for numeric columns
    /// (`chi_square` with at most 5 distinct values, `z_test` with at most 2), `chi_square` for
    /// categorical ones (`z_test` when binary); more rows, `wasserstein` (normalised) for numeric
    /// (`js_distance` with at most 5 distinct values), `js_distance` for categorical.
    /// Distances: `psi`, `kl_divergence`, `js_distance` (natural logarithm), `wasserstein` (over
    /// the reference standard deviation), `hellinger`; p-values: `ks`, `chi_square`, `z_test`.
    monitor::DriftMetric as "DriftMethod", "drift method", any_case: false,
    {
        Unspecified => "default", Psi => "psi", KlDivergence => "kl_divergence",
        JsDistance => "js_distance", Wasserstein => "wasserstein", Ks => "ks",
        ChiSquare => "chi_square", ZTest => "z_test", Hellinger => "hellinger",
    }
}

json_enum! {
    /// What a monitored model predicts: `classification` (accuracy, precision, recall, F1 and
    /// ROC AUC once labels exist), `regression` (MAE and RMSE), or `none` (no performance
    /// metrics; the default).
    monitor::ModelTask as "ModelTask", "model task", any_case: false,
    { Unspecified => "none", Classification => "classification", Regression => "regression" }
}

json_enum! {
    /// How a column is compared: `numeric` or `categorical` (`unknown` when it could not be told).
    monitor::ColumnKind as "ColumnKind", "column kind", any_case: false,
    { Unspecified => "unknown", Numeric => "numeric", Categorical => "categorical" }
}

json_enum! {
    /// Delivery of an alert to the monitor's webhook: `none` (no webhook), `pending`,
    /// `delivered` or `failed` (retries exhausted).
    monitor::DeliveryState as "DeliveryState", "delivery state", any_case: false,
    { None => "none", Pending => "pending", Delivered => "delivered", Failed => "failed" }
}

json_enum! {
    /// How a challenger shares a deployment: `canary` (it answers `traffic_percent` of the
    /// requests) or `shadow` (it scores every request; its answers are logged, never returned).
    serving::ChallengerMode as "ChallengerMode", "challenger mode", any_case: false,
    { Unspecified => "unspecified", Canary => "canary", Shadow => "shadow" }
}

/// A role; each includes the rights of those before it. Tokens carry roles, and a promotion
/// gate may require one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = GateRole, description = "A role a gate may require; each includes the rights of those before it.")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}': expected viewer, editor or admin"))
    }
}

/// serde of an `i32` field that holds the proto enum `E`, by the enum's JSON names.
pub mod enum_field {
    use super::*;

    pub fn serialize<E: JsonEnum, S: Serializer>(value: &i32, serializer: S) -> Result<S::Ok, S::Error> {
        match E::try_from(*value) {
            Ok(value) => serialize_name(value, serializer),
            Err(_) => Err(S::Error::custom(format_args!(
                "{} {value} is not defined",
                E::NOUN
            ))),
        }
    }

    pub fn deserialize<'de, E: JsonEnum, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        deserialize_name::<E, D>(deserializer).map(Into::into)
    }
}

/// serde of a `google.protobuf.Timestamp` field as RFC 3339 text in UTC (`null` when unset),
/// the form chrono writes.
pub mod timestamp {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<prost_types::Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let time = value.as_ref().and_then(|ts| {
            chrono::DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap_or(0))
        });
        time.serialize(serializer)
    }
}

/// One condition of a promotion gate, as JSON: an object with exactly one key. Its role is a
/// [`Role`] name, where the proto keeps a string.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = GateCondition)]
enum GateConditionJson {
    Metric(registry::MetricCondition),
    /// The caller must have at least this role.
    Role(Role),
    /// The version must currently be in this stage.
    CurrentStage(registry::Stage),
}

const GATE_CONDITION_DOC: &str =
    "One condition of a promotion gate: exactly one of `metric`, `role` or `current_stage`.";

impl Serialize for registry::GateCondition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use registry::gate_condition::Condition;
        let json = match &self.condition {
            Some(Condition::Metric(metric)) => GateConditionJson::Metric(metric.clone()),
            Some(Condition::Role(role)) => GateConditionJson::Role(role.parse().map_err(S::Error::custom)?),
            Some(Condition::CurrentStage(stage)) => GateConditionJson::CurrentStage(
                registry::Stage::try_from(*stage)
                    .map_err(|_| S::Error::custom(format_args!("stage {stage}")))?,
            ),
            None => return Err(S::Error::custom("empty gate condition")),
        };
        json.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for registry::GateCondition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use registry::gate_condition::Condition;
        let condition = match GateConditionJson::deserialize(deserializer)? {
            GateConditionJson::Metric(metric) => Condition::Metric(metric),
            GateConditionJson::Role(role) => Condition::Role(role.as_str().to_owned()),
            GateConditionJson::CurrentStage(stage) => Condition::CurrentStage(stage.into()),
        };
        Ok(registry::GateCondition {
            condition: Some(condition),
        })
    }
}

impl PartialSchema for registry::GateCondition {
    fn schema() -> RefOr<Schema> {
        let mut schema = GateConditionJson::schema();
        if let RefOr::T(Schema::OneOf(one_of)) = &mut schema {
            one_of.description = Some(GATE_CONDITION_DOC.to_owned());
        }
        schema
    }
}

impl ToSchema for registry::GateCondition {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("GateCondition")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        GateConditionJson::schemas(schemas);
    }
}
