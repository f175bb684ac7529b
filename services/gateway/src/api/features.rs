//! The feature store over HTTP: applying a feature repository, reading definitions,
//! point-in-time training sets, materialization, and online serving — in Lathe's shape and
//! in Feast's `POST /get-online-features` shape, so Feast HTTP clients work unchanged.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use lathe_common::auth::Role;
use lathe_common::{Error, ErrorCode, validate};
use lathe_contract::features::v1 as pb;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use utoipa::{IntoParams, ToSchema};

use super::online_json::{JsonValue, Timestamp, status_name};
use super::params::{DefinitionPath, ListQuery, ProjectPath};
use super::requests::Target;
use super::rfc3339;
use super::{Reply, Services, ok};
use crate::auth::{Access, Editor, ProjectAccess, Viewer};
use crate::backends::Backends;
use crate::error::{ApiError, ErrorBody};
use crate::settings::GatewaySettings;

// The REST shapes of the feature store differ from its messages: definitions carry their spec
// as a JSON object (`spec_json` text in the proto), and online values are plain JSON values
// (`online_json`).

#[derive(Serialize, ToSchema)]
pub struct Definition {
    pub kind: String,
    pub name: String,
    pub version: u64,
    /// The canonical definition.
    #[schema(value_type = Object)]
    pub spec: Json,
    /// File it was declared in.
    pub origin: String,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
}

impl From<pb::Definition> for Definition {
    fn from(d: pb::Definition) -> Self {
        Definition {
            spec: serde_json::from_str(&d.spec_json).unwrap_or(Json::Null),
            kind: d.kind,
            name: d.name,
            version: d.version,
            origin: d.origin,
            create_time: rfc3339(d.create_time),
            update_time: rfc3339(d.update_time),
        }
    }
}

/// One page of definitions, by kind then name.
#[derive(Serialize, ToSchema)]
pub struct DefinitionList {
    pub definitions: Vec<Definition>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct DefinitionVersion {
    pub version: u64,
    /// Null when this version deleted the definition.
    #[schema(value_type = Option<Object>)]
    pub spec: Option<Json>,
    pub actor: String,
    pub applied_time: Option<DateTime<Utc>>,
}

/// One page of a definition's versions, oldest first.
#[derive(Serialize, ToSchema)]
pub struct DefinitionHistory {
    pub versions: Vec<DefinitionVersion>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DefinitionsQuery {
    /// entity, data_source, feature_view or feature_service; all when absent.
    pub kind: Option<String>,
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Plans (`dry_run`) or applies a feature repository (editor).
#[utoipa::path(
    tag = "features",
    params(ProjectPath),
    responses(
        (status = 200, body = pb::ApplyRepositoryResponse), (status = 400, body = ErrorBody, description = "Every problem, with its file and path"), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "The change would break stored data"),
    ),
)]
#[post("/apply")]
pub async fn apply_repository(
    access: ProjectAccess<Viewer>,
    body: web::Json<pb::ApplyRepositoryRequest>,
    backends: Services,
) -> Reply {
    if !body.dry_run {
        access.claims.require_role(Role::Editor)?;
    }
    let request = pb::ApplyRepositoryRequest {
        actor: access.claims.sub.clone(),
        project: access.project,
        ..body.into_inner()
    };
    ok(backends.features().apply_repository(request).await?)
}

/// The project's current definitions, one page at a time by kind then name.
#[utoipa::path(
    tag = "features",
    params(ProjectPath, DefinitionsQuery),
    responses((status = 200, body = DefinitionList), (status = 400, body = ErrorBody)),
)]
#[get("/definitions")]
pub async fn list_definitions(
    access: ProjectAccess<Viewer>,
    query: web::Query<DefinitionsQuery>,
    backends: Services,
) -> Reply {
    let query = query.into_inner();
    let request = pb::ListDefinitionsRequest {
        project: access.project,
        kind: query.kind.unwrap_or_default(),
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let answer = backends.features().list_definitions(request).await?.into_inner();
    Ok(HttpResponse::Ok().json(DefinitionList {
        definitions: answer.definitions.into_iter().map(Definition::from).collect(),
        next_page_token: answer.next_page_token,
    }))
}

/// One definition, current version.
#[utoipa::path(
    tag = "features",
    params(DefinitionPath),
    responses((status = 200, body = Definition), (status = 404, body = ErrorBody)),
)]
#[get("/definitions/{kind}/{name}")]
pub async fn get_definition(
    target: Target<Viewer, DefinitionPath, pb::GetDefinitionRequest>,
    backends: Services,
) -> Reply {
    let answer = backends.features().get_definition(target.request).await?;
    Ok(HttpResponse::Ok().json(Definition::from(answer.into_inner())))
}

/// Every applied version of a definition, deletions included, one page at a time oldest first.
#[utoipa::path(
    tag = "features",
    params(DefinitionPath, ListQuery),
    responses(
        (status = 200, body = DefinitionHistory), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[get("/definitions/{kind}/{name}/history")]
pub async fn definition_history(
    target: Target<Viewer, DefinitionPath, pb::GetDefinitionRequest>,
    query: web::Query<ListQuery>,
    backends: Services,
) -> Reply {
    let pb::GetDefinitionRequest { project, kind, name } = target.request;
    let (page_size, page_token) = query.into_inner().page();
    let request = pb::GetDefinitionHistoryRequest {
        project,
        kind,
        name,
        page_size,
        page_token,
    };
    let answer = backends
        .features()
        .get_definition_history(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(DefinitionHistory {
        versions: answer
            .versions
            .into_iter()
            .map(|v| DefinitionVersion {
                version: v.version,
                spec: (!v.spec_json.is_empty())
                    .then(|| serde_json::from_str(&v.spec_json).unwrap_or(Json::Null)),
                actor: v.actor,
                applied_time: rfc3339(v.applied_time),
            })
            .collect(),
        next_page_token: answer.next_page_token,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoricalQuery {
    /// Comma-separated `view:feature` references.
    pub features: Option<String>,
    pub feature_service: Option<String>,
    #[serde(default)]
    pub full_feature_names: bool,
}

/// A point-in-time correct training set. The body is the entity frame (Parquet, or CSV with
/// `Content-Type: text/csv`) with the join keys and `event_timestamp`; the answer is Parquet.
#[utoipa::path(
    tag = "features",
    params(ProjectPath, HistoricalQuery),
    request_body(content = Vec<u8>, content_type = "application/vnd.apache.parquet", description = "Entity frame (or text/csv)"),
    responses(
        (status = 200, content_type = "application/vnd.apache.parquet", description = "The training set"),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
    ),
)]
#[post("/historical")]
pub async fn historical_features(
    access: ProjectAccess<Viewer>,
    query: web::Query<HistoricalQuery>,
    request: HttpRequest,
    payload: web::Payload,
    backends: Services,
    settings: web::Data<GatewaySettings>,
) -> Reply {
    let (entity_frame, format) = entity_frame(&request, payload, settings.frame_limit_bytes).await?;
    let query = query.into_inner();
    let request = pb::GetHistoricalFeaturesRequest {
        project: access.project,
        entity_frame,
        format: format as i32,
        features: query
            .features
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        feature_service: query.feature_service.unwrap_or_default(),
        full_feature_names: query.full_feature_names,
    };
    let answer = backends
        .features()
        .get_historical_features(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.apache.parquet")
        .insert_header(("x-lathe-rows", answer.rows.to_string()))
        .body(answer.parquet))
}

/// An entity frame sent as the body, with its format: CSV with `Content-Type: text/csv`,
/// Parquet otherwise; refused with 413 past `limit` bytes.
pub(crate) async fn entity_frame(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<(web::Bytes, pb::EntityFrameFormat), ApiError> {
    let format = match request.headers().get(actix_web::http::header::CONTENT_TYPE) {
        Some(v) if v.to_str().is_ok_and(|v| v.starts_with("text/csv")) => pb::EntityFrameFormat::Csv,
        _ => pb::EntityFrameFormat::Parquet,
    };
    let mut frame = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Error::invalid(format!("cannot read the entity frame: {e}")))?;
        if frame.len() + chunk.len() > limit {
            return Err(ApiError(Error::new(
                ErrorCode::PayloadTooLarge,
                format!("the entity frame is larger than {limit} bytes; split it"),
            )));
        }
        frame.extend_from_slice(&chunk);
    }
    Ok((frame.freeze(), format))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Materialize {
    /// Feature views to materialize; every online view when absent.
    #[serde(default)]
    pub feature_views: Vec<String>,
    /// Start of the window; ignored when `incremental`.
    pub start: Option<DateTime<Utc>>,
    pub end: DateTime<Utc>,
    /// Start each view where its last run stopped.
    #[serde(default)]
    pub incremental: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ViewMaterialization {
    pub feature_view: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub rows_scanned: u64,
    pub entities_written: u64,
    pub intervals_skipped: u32,
}

#[derive(Serialize, ToSchema)]
pub struct MaterializeResult {
    pub views: Vec<ViewMaterialization>,
}

impl From<pb::MaterializeResponse> for MaterializeResult {
    fn from(done: pb::MaterializeResponse) -> Self {
        MaterializeResult {
            views: done
                .views
                .into_iter()
                .map(|v| ViewMaterialization {
                    feature_view: v.feature_view,
                    start: rfc3339(v.start),
                    end: rfc3339(v.end),
                    rows_scanned: v.rows_scanned,
                    entities_written: v.entities_written,
                    intervals_skipped: v.intervals_skipped,
                })
                .collect(),
        }
    }
}

/// How far the materialization of one view has got.
#[derive(Serialize, ToSchema)]
pub struct MaterializeProgress {
    pub feature_view: String,
    /// Source rows read so far, of `rows_total` (from the files' footers).
    pub rows_scanned: u64,
    pub rows_total: u64,
    /// Entities written so far, of `entities_total` (0 until the scan ends).
    pub entities_written: u64,
    pub entities_total: u64,
}

/// One line of the `application/x-ndjson` answer: exactly one of the fields is set. Progress
/// lines come first; the last line is `done` or `error`.
#[derive(Default, Serialize, ToSchema)]
pub struct MaterializeEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<MaterializeProgress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<MaterializeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl MaterializeEvent {
    fn from_grpc(event: Result<pb::MaterializeEvent, tonic::Status>) -> Self {
        use pb::materialize_event::Event;
        let mut line = MaterializeEvent::default();
        match event.map(|e| e.event) {
            Ok(Some(Event::Progress(p))) => {
                line.progress = Some(MaterializeProgress {
                    feature_view: p.feature_view,
                    rows_scanned: p.rows_scanned,
                    rows_total: p.rows_total,
                    entities_written: p.entities_written,
                    entities_total: p.entities_total,
                });
            }
            Ok(Some(Event::Done(done))) => line.done = Some(done.into()),
            Ok(None) => line.error = Some(ApiError(Error::internal("empty materialize event")).body()),
            Err(status) => line.error = Some(ApiError::from(status).body()),
        }
        line
    }

    fn ndjson(&self) -> web::Bytes {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line.into()
    }
}

/// Writes the latest values of a window into the online store (editor). The answer is the
/// summary; with `Accept: application/x-ndjson` it is a stream of [`MaterializeEvent`] lines
/// instead — progress a few times a second, then the summary or the error — for long runs.
#[utoipa::path(
    tag = "features",
    params(ProjectPath),
    responses(
        (status = 200, body = MaterializeResult, content_type = "application/json"),
        (status = 200, body = MaterializeEvent, content_type = "application/x-ndjson", description = "one event per line"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[post("/materialize")]
pub async fn materialize(
    access: ProjectAccess<Editor>,
    http: HttpRequest,
    body: web::Json<Materialize>,
    backends: Services,
) -> Reply {
    let body = body.into_inner();
    if !body.incremental && body.start.is_none() {
        return Err(ApiError(Error::invalid(
            "start: give the start of the window, or set incremental",
        )));
    }
    let request = pb::MaterializeRequest {
        project: access.project,
        feature_views: body.feature_views,
        start: body.start.map(validate::timestamp),
        end: Some(validate::timestamp(body.end)),
        incremental: body.incremental,
    };
    let mut events = backends.features().materialize(request).await?.into_inner();
    let streamed = http
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-ndjson"));
    if streamed {
        // Requests that fail their checks (an unknown view, a bad window) fail before the
        // first event: those still get their HTTP status.
        let first = events.message().await?;
        let lines = futures::stream::iter(first.map(Ok))
            .chain(events)
            .map(|event| Ok::<_, actix_web::Error>(MaterializeEvent::from_grpc(event).ndjson()));
        return Ok(HttpResponse::Ok()
            .content_type("application/x-ndjson")
            .streaming(lines));
    }
    while let Some(event) = events.message().await? {
        if let Some(pb::materialize_event::Event::Done(done)) = event.event {
            return Ok(HttpResponse::Ok().json(MaterializeResult::from(done)));
        }
    }
    Err(ApiError(Error::internal(
        "the feature service ended the materialization without a summary",
    )))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MaterializationsQuery {
    /// Comma-separated feature view names; every feature view of the project when absent.
    pub feature_views: Option<String>,
}

/// What the online store holds of one feature view. The `last_*` fields, the counts and
/// `freshness_seconds` are null when the view was never materialized.
#[derive(Serialize, ToSchema)]
pub struct MaterializationState {
    pub feature_view: String,
    /// Whether the view is served online (and materialized when no view is named).
    pub online: bool,
    /// How long a value stays valid; null when forever.
    pub ttl_seconds: Option<u64>,
    /// The interval the last run that wrote something asked for (inclusive).
    pub last_start: Option<DateTime<Utc>>,
    pub last_end: Option<DateTime<Utc>>,
    /// When that run ended.
    pub last_run_time: Option<DateTime<Utc>>,
    /// Source rows it read; null also for a run recorded before row counts were kept.
    pub rows_scanned: Option<u64>,
    /// Entities it wrote to the online store.
    pub entities_written: Option<u64>,
    /// The latest event time materialized over every run: `last_end`, unless the last run was
    /// a backfill of an older interval.
    pub materialized_until: Option<DateTime<Utc>>,
    /// Seconds from `materialized_until` to the time of this request.
    pub freshness_seconds: Option<i64>,
    /// `freshness_seconds` exceeds `ttl_seconds`: online reads may find values outside their
    /// max age. False without a ttl, and for a view never materialized.
    pub stale: bool,
}

impl From<pb::ViewMaterializationState> for MaterializationState {
    fn from(v: pb::ViewMaterializationState) -> Self {
        MaterializationState {
            feature_view: v.feature_view,
            online: v.online,
            ttl_seconds: (v.ttl_seconds > 0).then_some(v.ttl_seconds),
            last_start: rfc3339(v.last_start),
            last_end: rfc3339(v.last_end),
            last_run_time: rfc3339(v.last_run_time),
            rows_scanned: v.rows_scanned,
            entities_written: v.entities_written,
            materialized_until: rfc3339(v.materialized_until),
            freshness_seconds: v.freshness_seconds,
            stale: v.stale,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MaterializationList {
    /// By feature view name.
    pub views: Vec<MaterializationState>,
}

/// The materialization state and freshness of each feature view: what its last run wrote
/// online, and how far behind the present the online store is.
#[utoipa::path(
    tag = "features",
    params(ProjectPath, MaterializationsQuery),
    responses(
        (status = 200, body = MaterializationList),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such project or feature view"),
    ),
)]
#[get("/materializations")]
pub async fn list_materializations(
    access: ProjectAccess<Viewer>,
    query: web::Query<MaterializationsQuery>,
    backends: Services,
) -> Reply {
    let request = pb::ListMaterializationsRequest {
        project: access.project,
        feature_views: query
            .into_inner()
            .feature_views
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let answer = backends
        .features()
        .list_materializations(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(MaterializationList {
        views: answer.views.into_iter().map(MaterializationState::from).collect(),
    }))
}

/// Feast's online request: features or a feature service, and entity columns.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnlineRequest {
    /// `view:feature` references.
    #[serde(default)]
    pub features: Vec<String>,
    pub feature_service: Option<String>,
    /// Join key → one value per entity.
    #[schema(value_type = Object)]
    pub entities: BTreeMap<String, Vec<Json>>,
    #[serde(default)]
    pub full_feature_names: bool,
}

#[derive(Serialize, ToSchema)]
pub struct OnlineMetadata {
    pub feature_names: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OnlineColumn {
    #[schema(value_type = Vec<Object>)]
    pub values: Vec<JsonValue>,
    /// PRESENT, NOT_FOUND or OUTSIDE_MAX_AGE.
    #[schema(value_type = Vec<String>)]
    pub statuses: Vec<&'static str>,
    /// RFC 3339, UTC.
    #[schema(value_type = Vec<String>)]
    pub event_timestamps: Vec<Timestamp>,
}

/// Feast's online response: one result per column, join keys first.
#[derive(Serialize, ToSchema)]
pub struct OnlineResponse {
    pub metadata: OnlineMetadata,
    pub results: Vec<OnlineColumn>,
}

/// An entity key value: a scalar (numbers, strings, booleans), converted as pushed values are.
pub(crate) fn json_to_value(name: &str, json: &Json) -> Result<pb::Value, Error> {
    if matches!(json, Json::Array(_) | Json::Object(_)) {
        return Err(Error::invalid(format!(
            "entities.{name}: join key values must be numbers, strings or booleans"
        )));
    }
    Ok(push_value(json))
}

async fn online(
    project: String,
    body: OnlineRequest,
    backends: &Backends,
) -> Result<OnlineResponse, ApiError> {
    let mut entities = Vec::with_capacity(body.entities.len());
    for (name, values) in &body.entities {
        let values = values
            .iter()
            .map(|v| json_to_value(name, v))
            .collect::<Result<Vec<_>, _>>()?;
        entities.push(pb::EntityColumn {
            name: name.clone(),
            values,
        });
    }
    let request = pb::GetOnlineFeaturesRequest {
        project,
        features: body.features,
        feature_service: body.feature_service.unwrap_or_default(),
        entities,
        full_feature_names: body.full_feature_names,
    };
    let answer = match &backends.online {
        Some(direct) => direct.call(request).await?,
        None => backends
            .features()
            .get_online_features(request)
            .await?
            .into_inner(),
    };
    let feature_names = answer.columns.iter().map(|c| c.name.clone()).collect();
    let results = answer
        .columns
        .into_iter()
        .map(|c| OnlineColumn {
            values: c.values.into_iter().map(JsonValue).collect(),
            statuses: c.statuses.iter().map(|s| status_name(*s)).collect(),
            event_timestamps: c.event_timestamps_us.iter().map(|&us| Timestamp(us)).collect(),
        })
        .collect();
    Ok(OnlineResponse {
        metadata: OnlineMetadata { feature_names },
        results,
    })
}

/// Latest feature values for entities, from the online store.
#[utoipa::path(
    tag = "features",
    params(ProjectPath),
    responses((status = 200, body = OnlineResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[post("/api/v1/projects/{project}/features/online")]
pub async fn online_features(
    access: ProjectAccess<Viewer>,
    body: web::Json<OnlineRequest>,
    backends: Services,
) -> Reply {
    Ok(HttpResponse::Ok().json(online(access.project, body.into_inner(), &backends).await?))
}

/// Feast's feature-server endpoint, for the project in `gateway.feast_project`.
#[utoipa::path(
    tag = "features",
    responses((status = 200, body = OnlineResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[post("/get-online-features")]
pub async fn feast_online_features(
    Access { claims, .. }: Access<Viewer>,
    body: web::Json<OnlineRequest>,
    backends: Services,
    settings: web::Data<GatewaySettings>,
) -> Reply {
    claims.require_project(&settings.feast_project)?;
    Ok(HttpResponse::Ok().json(online(settings.feast_project.clone(), body.into_inner(), &backends).await?))
}

/// Feast's push request: rows of a push source, column by column.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub push_source_name: String,
    /// Column → one value per row: join keys, the timestamp field, the features.
    #[schema(value_type = Object)]
    pub df: BTreeMap<String, Vec<Json>>,
    /// online (default), offline or online_and_offline.
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PushResult {
    pub rows: u64,
    pub feature_views: Vec<String>,
    /// The Parquet file written for offline pushes.
    pub offline_file: Option<String>,
    /// Events older than an aggregated view's allowed lateness: not applied online (still
    /// written offline when pushed there).
    pub late_events: u64,
}

fn push_value(json: &Json) -> pb::Value {
    use pb::value::Kind;
    let kind = match json {
        Json::Null => None,
        Json::Bool(b) => Some(Kind::BoolValue(*b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Some(Kind::Int64Value(i)),
            None => Some(Kind::DoubleValue(n.as_f64().unwrap_or_default())),
        },
        Json::String(s) => Some(Kind::StringValue(s.clone())),
        Json::Array(items) => Some(Kind::ListValue(pb::ValueList {
            values: items.iter().map(push_value).collect(),
        })),
        Json::Object(_) => Some(Kind::StringValue(json.to_string())),
    };
    pb::Value { kind }
}

async fn push(project: String, body: PushRequest, backends: &Backends) -> Result<PushResult, ApiError> {
    let to = match body.to.as_deref().unwrap_or("online") {
        "online" => pb::PushTarget::Online,
        "offline" => pb::PushTarget::Offline,
        "online_and_offline" => pb::PushTarget::OnlineAndOffline,
        other => {
            return Err(ApiError(Error::invalid(format!(
                "to: '{other}' is not online, offline or online_and_offline"
            ))));
        }
    };
    let request = pb::PushRequest {
        project,
        push_source: body.push_source_name,
        columns: body
            .df
            .iter()
            .map(|(name, values)| pb::EntityColumn {
                name: name.clone(),
                values: values.iter().map(push_value).collect(),
            })
            .collect(),
        to: to as i32,
    };
    let answer = backends.features().push(request).await?.into_inner();
    Ok(PushResult {
        rows: answer.rows,
        feature_views: answer.feature_views,
        offline_file: (!answer.offline_file.is_empty()).then_some(answer.offline_file),
        late_events: answer.late_events,
    })
}

/// Writes rows of a push source to the online and/or offline store (editor). A wrong type or
/// a missing column is a 422 naming the column, and nothing is written.
#[utoipa::path(
    tag = "features",
    params(ProjectPath),
    responses(
        (status = 200, body = PushResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A column is missing or has the wrong type"),
    ),
)]
#[post("/api/v1/projects/{project}/features/push")]
pub async fn push_rows(
    access: ProjectAccess<Editor>,
    body: web::Json<PushRequest>,
    backends: Services,
) -> Reply {
    Ok(HttpResponse::Ok().json(push(access.project, body.into_inner(), &backends).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SourcePath {
    pub project: String,
    /// A file source whose path is a folder.
    pub source: String,
}

/// What an ingest wrote.
#[derive(Serialize, ToSchema)]
pub struct IngestResult {
    /// The new Parquet file, on the feature service's object store.
    pub path: String,
    pub rows: u64,
    pub columns: Vec<String>,
    /// The feature views whose columns the file was checked against.
    pub feature_views: Vec<String>,
}

/// Messages of an ingest in flight to the feature service at once.
const INGEST_QUEUE: usize = 8;

/// Writes a file (Parquet, or CSV with `Content-Type: text/csv`) as a new Parquet file under a
/// file source's folder (editor), streamed through to the feature service. Its columns are
/// checked first against every feature view that reads the source: a missing column or a wrong
/// type is a 422 naming the column, and nothing is written; so is a body that breaks off.
#[utoipa::path(
    tag = "features",
    params(SourcePath),
    request_body(content = Vec<u8>, content_type = "application/vnd.apache.parquet", description = "The file (or text/csv)"),
    responses(
        (status = 201, body = IngestResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "The source is a push source or a single file"),
        (status = 422, body = ErrorBody, description = "A column is missing or has the wrong type"),
    ),
)]
#[post("/sources/{source}/ingest")]
pub async fn ingest_file(
    access: ProjectAccess<Editor>,
    path: web::Path<SourcePath>,
    request: HttpRequest,
    mut payload: web::Payload,
    backends: Services,
) -> Reply {
    let format = match request.headers().get(actix_web::http::header::CONTENT_TYPE) {
        Some(v) if v.to_str().is_ok_and(|v| v.starts_with("text/csv")) => pb::EntityFrameFormat::Csv,
        _ => pb::EntityFrameFormat::Parquet,
    };
    let header = pb::IngestFileHeader {
        project: access.project,
        source: path.into_inner().source,
        format: format as i32,
    };
    let (sender, receiver) = tokio::sync::mpsc::channel(INGEST_QUEUE);
    let first = pb::IngestFileRequest {
        header: Some(header),
        ..Default::default()
    };
    sender
        .send(first)
        .await
        .map_err(|_| Error::internal("the ingest queue closed before its header"))?;
    let mut client = backends.features();
    // The call runs on its own task while this one reads the (not Send) HTTP body into its queue.
    let call = tokio::spawn(lathe_common::access::carry_caller(async move {
        client
            .ingest_file(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
    }));
    let mut complete = true;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| {
            Error::invalid(format!("cannot read the request body: {err}"))
                .with_reason(lathe_common::reasons::INVALID_BODY)
        })?;
        let message = pb::IngestFileRequest {
            chunk: chunk.to_vec().into(),
            ..Default::default()
        };
        if sender.send(message).await.is_err() {
            // The call is over already: its answer says why.
            complete = false;
            break;
        }
    }
    if complete {
        let commit = pb::IngestFileRequest {
            commit: true,
            ..Default::default()
        };
        let _ = sender.send(commit).await;
    }
    drop(sender);
    let answer = call
        .await
        .map_err(|err| Error::internal(format_args!("ingest task failed: {err}")))??
        .into_inner();
    Ok(HttpResponse::Created().json(IngestResult {
        path: answer.path,
        rows: answer.rows,
        columns: answer.columns,
        feature_views: answer.feature_views,
    }))
}

/// Feast's push endpoint, for the project in `gateway.feast_project`.
#[utoipa::path(
    tag = "features",
    responses((status = 200, body = PushResult), (status = 422, body = ErrorBody)),
)]
#[post("/push")]
pub async fn feast_push(
    Access { claims, .. }: Access<Editor>,
    body: web::Json<PushRequest>,
    backends: Services,
    settings: web::Data<GatewaySettings>,
) -> Reply {
    claims.require_project(&settings.feast_project)?;
    Ok(HttpResponse::Ok().json(push(settings.feast_project.clone(), body.into_inner(), &backends).await?))
}
