//! One online prediction: the deployment's version picked (the champion, or the canary's
//! share of requests for the challenger), its inputs read from the request and the online
//! store, the model run, and the answer logged to the monitor without waiting for it. Each
//! prediction made or failed once its version is picked is counted for that version's role.

use std::collections::HashMap;
use std::sync::Arc;

use lathe_common::grpc::{Direct, TracedChannel};
use lathe_common::row_log::RowQueue;
use lathe_common::row_log::sampling::{Xorshift, sample_here};
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as features;
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_contract::serving::v1 as pb;

use crate::deployments::{Deployments, Live};
use crate::loading::Loaded;
use crate::prediction_counters::{ServedRole, now_seconds};
use crate::runtime::Predictions;

/// Entities in one predict call, at most.
pub const MAX_ENTITIES: usize = 10_000;

/// How serving reads online features: straight into the feature-service's handler when both
/// run in one process, over gRPC otherwise.
#[derive(Clone)]
pub enum OnlineReads {
    Direct(Direct<features::GetOnlineFeaturesRequest, features::GetOnlineFeaturesResponse>),
    Remote(FeatureServiceClient<TracedChannel>),
}

impl OnlineReads {
    async fn read(
        &self,
        request: features::GetOnlineFeaturesRequest,
    ) -> Result<features::GetOnlineFeaturesResponse> {
        let answer = match self {
            OnlineReads::Direct(direct) => direct.call(request).await,
            OnlineReads::Remote(client) => client
                .clone()
                .get_online_features(request)
                .await
                .map(|r| r.into_inner()),
        };
        answer.map_err(Error::from)
    }
}

#[derive(Clone)]
pub struct Predictor {
    pub deployments: Deployments,
    pub online: OnlineReads,
    pub log: RowQueue,
}

impl Predictor {
    pub async fn predict(&self, request: pb::PredictRequest) -> Result<pb::PredictResponse> {
        let live = self.deployments.live(&request.project, &request.deployment)?;
        let champion = live.champion().ok_or_else(|| {
            Error::new(
                ErrorCode::Unavailable,
                format!(
                    "deployment '{}' has no version loaded yet: {}",
                    request.deployment,
                    live.to_proto().last_error
                ),
            )
        })?;
        let rows = entity_rows(&request.entities)?;
        let (role, answering, shadow) = pick(&live, champion);
        let answer = self
            .answer(&request, &live, &answering, shadow.as_deref(), rows)
            .await;
        let counters = live.counters.role(role);
        match &answer {
            Ok(_) => counters.answered(rows as u64, now_seconds()),
            Err(_) => counters.failed(rows as u64, now_seconds()),
        }
        answer
    }

    /// The predictions of `answering` for the request's `rows` entities, with `shadow` scored
    /// and logged beside them.
    async fn answer(
        &self,
        request: &pb::PredictRequest,
        live: &Live,
        answering: &Loaded,
        shadow: Option<&Loaded>,
        rows: usize,
    ) -> Result<pb::PredictResponse> {
        let mut wanted: Vec<&str> = answering.inputs.iter().map(String::as_str).collect();
        if let Some(shadow) = &shadow {
            wanted.extend(
                shadow
                    .inputs
                    .iter()
                    .map(String::as_str)
                    .filter(|i| !answering.inputs.iter().any(|a| a == i)),
            );
        }
        let mut defaults = answering.defaults.clone();
        if let Some(shadow) = &shadow {
            for (input, value) in &shadow.defaults {
                defaults.entry(input.clone()).or_insert(*value);
            }
        }
        let values = self.inputs(request, &wanted, &defaults, rows).await?;
        // The answering version's rows, built once: scored, and answered with include_features.
        let scored = matrix(&answering.inputs, &values, rows);
        let answered = run(answering, &scored)?;
        let ids: Vec<String> = (0..rows)
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect();
        let spec = &live.spec;
        if !spec.monitor.is_empty() {
            self.log_predictions(live, request, answering, &values, &answered, &ids);
            if let Some(shadow) = shadow {
                let counters = live.counters.role(ServedRole::Challenger);
                match run(shadow, &matrix(&shadow.inputs, &values, rows)) {
                    Ok(scored) => {
                        counters.answered(rows as u64, now_seconds());
                        self.log_predictions(live, request, shadow, &values, &scored, &ids);
                    }
                    Err(err) => {
                        counters.failed(rows as u64, now_seconds());
                        tracing::warn!(deployment = %spec.name, error = %err, "the shadow version failed")
                    }
                }
            }
        }
        let width = answering.inputs.len();
        let predictions = (0..rows)
            .map(|row| {
                let mut p = pb::Prediction {
                    prediction_id: ids[row].clone(),
                    version: answering.version,
                    ..Default::default()
                };
                match &answered {
                    Predictions::Classes(classes) => {
                        p.label = classes[row].label.to_string();
                        p.probabilities = classes[row].probabilities.iter().map(|&x| f64::from(x)).collect();
                    }
                    Predictions::Values(v) => p.value = f64::from(v[row]),
                }
                if request.include_features {
                    p.features = scored[row * width..(row + 1) * width]
                        .iter()
                        .map(|&x| f64::from(x))
                        .collect();
                }
                p
            })
            .collect();
        Ok(pb::PredictResponse {
            predictions,
            inputs: answering.inputs.clone(),
            classes: answering.classes.clone(),
        })
    }

    /// Each wanted input's value per entity: the request's, else the online store's, else the
    /// signature's default; any other miss refuses the request, naming each.
    async fn inputs(
        &self,
        request: &pb::PredictRequest,
        wanted: &[&str],
        defaults: &HashMap<String, f64>,
        rows: usize,
    ) -> Result<HashMap<String, Vec<f32>>> {
        let mut values: HashMap<String, Vec<f32>> = HashMap::new();
        for given in &request.request_features {
            if given.values.len() != rows {
                return Err(Error::invalid(format!(
                    "request_features '{}': {} values for {rows} entities; give one per entity",
                    given.name,
                    given.values.len()
                )));
            }
            values.insert(
                given.name.clone(),
                given.values.iter().map(|&v| v as f32).collect(),
            );
        }
        let from_store: Vec<String> = wanted
            .iter()
            .filter(|name| !values.contains_key(**name))
            .map(|name| (*name).to_owned())
            .collect();
        if from_store.is_empty() {
            return Ok(values);
        }
        let answer = self
            .online
            .read(features::GetOnlineFeaturesRequest {
                project: request.project.clone(),
                features: from_store.clone(),
                feature_service: String::new(),
                entities: request.entities.clone(),
                full_feature_names: true,
            })
            .await?;
        let keys = request.entities.len();
        let mut missing = Vec::new();
        for (i, name) in from_store.iter().enumerate() {
            let column = answer.columns.get(keys + i).ok_or_else(|| {
                Error::internal(format!("the feature-service answered no column for '{name}'"))
            })?;
            let mut out = Vec::with_capacity(rows);
            for row in 0..rows {
                let present = column.statuses.get(row) == Some(&(features::FeatureStatus::Present as i32));
                match column.values.get(row).and_then(number).filter(|_| present) {
                    Some(v) => out.push(v as f32),
                    None => match defaults.get(name) {
                        Some(d) => out.push(*d as f32),
                        None => missing.push(format!("{name} for {}", entity_label(&request.entities, row))),
                    },
                }
            }
            values.insert(name.clone(), out);
        }
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
            return Err(Error::new(
                ErrorCode::Unprocessable,
                format!(
                    "{} input value(s) are missing from the online store and have no default: {}{}; \
                     materialize or push them, give them as request_features, or declare defaults in the \
                     version's signature",
                    missing.len(),
                    shown.join(", "),
                    if missing.len() > shown.len() { ", …" } else { "" }
                ),
            ));
        }
        Ok(values)
    }

    /// Queues a sample of the predictions for the deployment's monitor; never waits.
    fn log_predictions(
        &self,
        live: &Live,
        request: &pb::PredictRequest,
        version: &Loaded,
        values: &HashMap<String, Vec<f32>>,
        answered: &Predictions,
        ids: &[String],
    ) {
        let spec = &live.spec;
        let picked = sample_here(spec.sample_rate, ids.len());
        if picked.is_empty() {
            return;
        }
        let now = chrono::Utc::now().to_rfc3339();
        let rows = picked
            .into_iter()
            .map(|row| {
                let mut object = serde_json::Map::new();
                for column in &request.entities {
                    if let Some(v) = column.values.get(row) {
                        object.insert(column.name.clone(), key_json(v));
                    }
                }
                for input in &version.inputs {
                    let name = input
                        .split_once(':')
                        .map_or(input.as_str(), |(_, feature)| feature);
                    if let Some(v) = values.get(input).and_then(|v| v.get(row)) {
                        object.insert(name.to_owned(), serde_json::json!(f64::from(*v)));
                    }
                }
                match answered {
                    Predictions::Classes(classes) => {
                        object.insert(
                            "prediction".into(),
                            serde_json::json!(classes[row].label.to_string()),
                        );
                    }
                    Predictions::Values(v) => {
                        object.insert("prediction".into(), serde_json::json!(f64::from(v[row])));
                    }
                }
                object.insert("prediction_id".into(), serde_json::json!(ids[row]));
                object.insert("model_version".into(), serde_json::json!(version.version));
                object.insert("deployment".into(), serde_json::json!(spec.name));
                object.insert("timestamp".into(), serde_json::json!(now));
                serde_json::Value::Object(object)
            })
            .collect();
        self.log.offer(&spec.project, &spec.monitor, rows);
    }
}

/// The version that answers (and its role), and the one scored in shadow.
fn pick(live: &Live, champion: Arc<Loaded>) -> (ServedRole, Arc<Loaded>, Option<Arc<Loaded>>) {
    let (Some(challenger), Some(config)) = (live.challenger(), live.spec.challenger.as_ref()) else {
        return (ServedRole::Champion, champion, None);
    };
    match pb::ChallengerMode::try_from(config.mode) {
        Ok(pb::ChallengerMode::Canary) => {
            thread_local! {
                static RNG: std::cell::RefCell<Xorshift> = std::cell::RefCell::new(Xorshift::from_entropy());
            }
            let draw = RNG.with(|rng| rng.borrow_mut().next_f64());
            if draw * 100.0 < f64::from(config.traffic_percent) {
                (ServedRole::Challenger, challenger, None)
            } else {
                (ServedRole::Champion, champion, None)
            }
        }
        Ok(pb::ChallengerMode::Shadow) => (ServedRole::Champion, champion, Some(challenger)),
        Ok(pb::ChallengerMode::Unspecified) | Err(_) => (ServedRole::Champion, champion, None),
    }
}

/// The rows of `version`'s inputs, one after another.
fn matrix(inputs: &[String], values: &HashMap<String, Vec<f32>>, rows: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * inputs.len());
    for row in 0..rows {
        for input in inputs {
            out.push(
                values
                    .get(input)
                    .and_then(|v| v.get(row))
                    .copied()
                    .unwrap_or(f32::NAN),
            );
        }
    }
    out
}

fn run(version: &Loaded, matrix: &[f32]) -> Result<Predictions> {
    version
        .model
        .predict(matrix)
        .map_err(|err| Error::internal(format!("version {} failed to predict: {err}", version.version)))
}

/// The number of entities: every key column holds one value per entity.
fn entity_rows(entities: &[features::EntityColumn]) -> Result<usize> {
    let Some(first) = entities.first() else {
        return Err(Error::invalid(
            "entities: give the join keys of at least one entity",
        ));
    };
    let rows = first.values.len();
    if rows == 0 || rows > MAX_ENTITIES {
        return Err(Error::invalid(format!(
            "entities: {rows} entities; one call predicts for 1 to {MAX_ENTITIES}"
        )));
    }
    if let Some(other) = entities.iter().find(|c| c.values.len() != rows) {
        return Err(Error::invalid(format!(
            "entities: '{}' has {} values and '{}' {rows}; every key column has one value per entity",
            other.name,
            other.values.len(),
            first.name
        )));
    }
    Ok(rows)
}

fn number(value: &features::Value) -> Option<f64> {
    use features::value::Kind;
    match value.kind.as_ref()? {
        Kind::Int32Value(v) => Some(f64::from(*v)),
        Kind::Int64Value(v) => Some(*v as f64),
        Kind::FloatValue(v) => Some(f64::from(*v)),
        Kind::DoubleValue(v) => Some(*v),
        Kind::BoolValue(v) => Some(if *v { 1.0 } else { 0.0 }),
        Kind::StringValue(_) | Kind::BytesValue(_) | Kind::TimestampUs(_) | Kind::ListValue(_) => None,
    }
}

fn key_json(value: &features::Value) -> serde_json::Value {
    use features::value::Kind;
    match value.kind.as_ref() {
        Some(Kind::Int32Value(v)) => serde_json::json!(v),
        Some(Kind::Int64Value(v)) => serde_json::json!(v),
        Some(Kind::StringValue(v)) => serde_json::json!(v),
        Some(Kind::BoolValue(v)) => serde_json::json!(v),
        Some(Kind::FloatValue(v)) => serde_json::json!(v),
        Some(Kind::DoubleValue(v)) => serde_json::json!(v),
        Some(Kind::BytesValue(_) | Kind::TimestampUs(_) | Kind::ListValue(_)) | None => {
            serde_json::Value::Null
        }
    }
}

/// `driver_id=1003` for the entity at `row`.
fn entity_label(entities: &[features::EntityColumn], row: usize) -> String {
    entities
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c.name,
                c.values.get(row).map(key_json).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}
