//! Serving, run by the serving service: deployments of a registered model behind one of its
//! aliases (with a canary or shadow challenger), online predictions, and batch scoring of an
//! entity file. Viewers read and predict, editors deploy and undeploy; every route needs the
//! project in the token. Bodies and answers are the contract's messages where their shapes
//! match; a prediction's body is the gateway's own, as its entity values are plain JSON values
//! that become the feature store's typed values the way the online-features route makes them.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use lathe_common::Error;
use lathe_contract::features::v1 as features;
use lathe_contract::serving::v1 as pb;
use serde::Deserialize;
use serde_json::Value as Json;
use utoipa::{IntoParams, ToSchema};

use super::features::{entity_frame, json_to_value};
use super::params::{ListQuery, ProjectPath};
use super::{Reply, Services, created, ok};
use crate::auth::{Editor, ProjectAccess, Viewer};
use crate::error::ErrorBody;
use crate::settings::GatewaySettings;

/// Content type of a Parquet answer.
use super::monitors::PARQUET;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeploymentPath {
    pub project: String,
    /// Deployment name
    pub name: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PredictPath {
    pub project: String,
    /// Deployment name
    pub deployment: String,
}

/// Deploys a model behind an alias, or replaces the deployment of that name (editor).
///
/// The deployment follows `alias` (`champion` when omitted): when the alias moves, the new
/// version is loaded and warmed, then answers in one step. `name` (the model's when omitted)
/// names it in predict URLs. A `challenger` follows another alias: `canary` answers
/// `traffic_percent` (1 to 99) of the requests, `shadow` scores every request and is only
/// logged. With a `monitor`, predictions are logged to it, a `sample_rate` share of them (in
/// (0, 1]; 1 when omitted).
#[utoipa::path(
    tag = "serving",
    params(ProjectPath),
    request_body = pb::DeployRequest,
    responses(
        (status = 201, body = pb::Deployment),
        (status = 400, body = ErrorBody, description = "A field is invalid; the message names it"),
        (status = 404, body = ErrorBody, description = "No such project, model, alias or monitor"),
        (status = 412, body = ErrorBody, description = "The alias's version cannot be served (no `model.onnx`, an operator the runtime lacks, a signature that does not match the model); the message says why"),
    ),
)]
#[post("")]
pub async fn deploy(
    access: ProjectAccess<Editor>,
    body: web::Json<pb::DeployRequest>,
    backends: Services,
) -> Reply {
    let request = pb::DeployRequest {
        project: access.project,
        ..body.into_inner()
    };
    created(backends.serving().deploy(request).await?)
}

/// The project's deployments by name, a page at a time, each with the version it serves and
/// its `stats` (as for one deployment). `next_page_token` is empty on the last page.
#[utoipa::path(
    tag = "serving",
    params(ProjectPath, ListQuery),
    responses(
        (status = 200, body = pb::ListDeploymentsResponse),
        (status = 400, body = ErrorBody, description = "`page_size` over 1000, or a `page_token` this server did not issue (`invalid_page_token`)"),
        (status = 404, body = ErrorBody, description = "No such project"),
    ),
)]
#[get("")]
pub async fn list_deployments(
    access: ProjectAccess<Viewer>,
    query: web::Query<ListQuery>,
    backends: Services,
) -> Reply {
    let (page_size, page_token) = query.into_inner().page();
    let request = pb::ListDeploymentsRequest {
        project: access.project,
        page_size,
        page_token,
    };
    ok(backends.serving().list_deployments(request).await?)
}

/// One deployment: what it follows, the version it serves (and its challenger's), and why the
/// alias's latest version is not served, if it is not.
///
/// `stats` holds its live traffic per role (`champion`, and `challenger` when one is loaded):
/// the version served, `predictions_total` and `errors_total`, the counts of the last minute,
/// and `per_second` (the last minute's predictions over the seconds of it counted). Every entity
/// of a predict call and every row of a batch scoring is one prediction. The counts are the
/// answering serving process's, since it loaded the deployment: a restart starts them at zero,
/// and with several serving replicas each counts its own. The configured split is `challenger`
/// (`mode` and `traffic_percent`).
#[utoipa::path(
    tag = "serving",
    params(DeploymentPath),
    responses((status = 200, body = pb::Deployment), (status = 404, body = ErrorBody)),
)]
#[get("/{name}")]
pub async fn get_deployment(
    access: ProjectAccess<Viewer>,
    path: web::Path<DeploymentPath>,
    backends: Services,
) -> Reply {
    let request = pb::DeploymentRef {
        project: access.project,
        name: path.into_inner().name,
    };
    ok(backends.serving().get_deployment(request).await?)
}

/// Undeploys: the deployment stops answering and its models are unloaded (editor).
#[utoipa::path(
    tag = "serving",
    params(DeploymentPath),
    responses((status = 204), (status = 404, body = ErrorBody)),
)]
#[delete("/{name}")]
pub async fn undeploy(
    access: ProjectAccess<Editor>,
    path: web::Path<DeploymentPath>,
    backends: Services,
) -> Reply {
    let request = pb::DeploymentRef {
        project: access.project,
        name: path.into_inner().name,
    };
    backends.serving().undeploy(request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What to predict for: entities by their join keys, and optional request-time features.
/// (The proto's `PredictRequest` holds typed entity values; here they are plain JSON values.)
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Predict)]
pub struct PredictBody {
    /// Join key → one value per entity (numbers, strings or booleans).
    #[schema(value_type = Object, example = json!({"driver_id": [1001, 1002]}))]
    pub entities: BTreeMap<String, Vec<Json>>,
    /// Input reference (`view:feature`) → one value per entity, used instead of the online
    /// store's.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"driver_hourly_stats:conv_rate": [0.5, 0.4]}))]
    pub request_features: BTreeMap<String, Vec<f64>>,
    /// Answer the input values each prediction used.
    #[serde(default)]
    pub include_features: bool,
}

impl PredictBody {
    /// The service's request for `deployment` of `project`.
    fn into_request(self, project: String, deployment: String) -> Result<pb::PredictRequest, Error> {
        let entities = self
            .entities
            .into_iter()
            .map(|(name, values)| {
                let values = values
                    .iter()
                    .map(|value| json_to_value(&name, value))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(features::EntityColumn { name, values })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let request_features = self
            .request_features
            .into_iter()
            .map(|(name, values)| pb::RequestFeature { name, values })
            .collect();
        Ok(pb::PredictRequest {
            project,
            deployment,
            entities,
            request_features,
            include_features: self.include_features,
        })
    }
}

/// Predicts for entities (viewer): reads the inputs the served version's signature names from
/// the online store (request features take their place), runs the model, and answers one
/// prediction per entity with the version that made it (and, with `include_features`, the
/// input values used, in the order of `inputs`). A classifier answers `label` and
/// `probabilities` (in the order of `classes`), a regressor `value`. The prediction is logged
/// to the deployment's monitor (sampled) under its `prediction_id`.
#[utoipa::path(
    tag = "serving",
    params(PredictPath),
    request_body = PredictBody,
    responses(
        (status = 200, body = pb::PredictResponse),
        (status = 400, body = ErrorBody, description = "An entity value is not a number, string or boolean, or the columns differ in length"),
        (status = 404, body = ErrorBody, description = "No such deployment"),
        (status = 412, body = ErrorBody, description = "The deployment has no version loaded"),
        (status = 422, body = ErrorBody, description = "An entity or feature is missing and the signature declares no default; the message names them"),
    ),
)]
#[post("/api/v1/projects/{project}/predict/{deployment}")]
pub async fn predict(
    access: ProjectAccess<Viewer>,
    path: web::Path<PredictPath>,
    body: web::Json<PredictBody>,
    backends: Services,
) -> Reply {
    let request = body
        .into_inner()
        .into_request(access.project, path.into_inner().deployment)?;
    ok(backends.serving().predict(request).await?)
}

/// Scores an entity file (viewer): the body is the entity frame (Parquet, or CSV with
/// `Content-Type: text/csv`) with the join keys and `event_timestamp`; each row's inputs come
/// from the point-in-time historical retrieval as of its timestamp, and the deployment's
/// current version scores them with the same model code as online predictions. The answer is
/// Parquet: the entity rows with the inputs used and `prediction` (a regressor) or `label` and
/// one `probability_<class>` column per class (a classifier). Not logged to the monitor.
#[utoipa::path(
    tag = "serving",
    params(PredictPath),
    request_body(content = Vec<u8>, content_type = "application/vnd.apache.parquet", description = "Entity frame (or text/csv)"),
    responses(
        (status = 200, content_type = "application/vnd.apache.parquet", description = "The scored rows",
            headers(
                ("x-lathe-rows" = u64, description = "Rows scored"),
                ("x-lathe-version" = u64, description = "The model version that scored them"),
            )),
        (status = 400, body = ErrorBody, description = "Not a readable entity frame"),
        (status = 404, body = ErrorBody, description = "No such deployment"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A join key or `event_timestamp` is missing; the message names it"),
    ),
)]
#[post("/{deployment}/batch")]
pub async fn batch_predict(
    access: ProjectAccess<Viewer>,
    path: web::Path<PredictPath>,
    request: HttpRequest,
    payload: web::Payload,
    backends: Services,
    settings: web::Data<GatewaySettings>,
) -> Reply {
    let (entity_frame, format) = entity_frame(&request, payload, settings.frame_limit_bytes).await?;
    let request = pb::BatchPredictRequest {
        project: access.project,
        deployment: path.into_inner().deployment,
        entity_frame,
        format: format as i32,
    };
    let answer = backends.serving().batch_predict(request).await?.into_inner();
    Ok(HttpResponse::Ok()
        .content_type(PARQUET)
        .insert_header(("x-lathe-rows", answer.rows.to_string()))
        .insert_header(("x-lathe-version", answer.version.to_string()))
        .body(answer.parquet))
}

#[cfg(test)]
mod tests {
    use lathe_common::ErrorCode;
    use lathe_contract::features::v1::value::Kind;

    use super::*;

    fn body(json: &str) -> Result<PredictBody, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn a_prediction_body_becomes_the_service_request_with_typed_entity_values() {
        let request = body(
            r#"{"entities": {"driver_id": [1001, 1002], "city": ["Paris", "Lyon"], "vip": [true, false], "score": [0.5, 2]},
                "request_features": {"driver_hourly_stats:conv_rate": [0.5, 0.4]},
                "include_features": true}"#,
        )
        .unwrap()
        .into_request("rides".to_owned(), "eta".to_owned())
        .unwrap();
        assert_eq!(
            (request.project.as_str(), request.deployment.as_str()),
            ("rides", "eta")
        );
        assert!(request.include_features);
        let column = |name: &str| {
            request
                .entities
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("no column {name}"))
                .values
                .iter()
                .map(|v| v.kind.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            column("driver_id"),
            [Some(Kind::Int64Value(1001)), Some(Kind::Int64Value(1002))]
        );
        assert_eq!(
            column("city"),
            [
                Some(Kind::StringValue("Paris".to_owned())),
                Some(Kind::StringValue("Lyon".to_owned()))
            ]
        );
        assert_eq!(
            column("vip"),
            [Some(Kind::BoolValue(true)), Some(Kind::BoolValue(false))]
        );
        // An integral JSON number is an int64, as the online-features route reads it.
        assert_eq!(
            column("score"),
            [Some(Kind::DoubleValue(0.5)), Some(Kind::Int64Value(2))]
        );
        assert_eq!(
            request.request_features,
            [pb::RequestFeature {
                name: "driver_hourly_stats:conv_rate".to_owned(),
                values: vec![0.5, 0.4],
            }]
        );
    }

    #[test]
    fn request_features_and_include_features_are_optional() {
        let request = body(r#"{"entities": {"driver_id": [7]}}"#)
            .unwrap()
            .into_request("p".to_owned(), "d".to_owned())
            .unwrap();
        assert!(request.request_features.is_empty());
        assert!(!request.include_features);
        assert_eq!(request.entities.len(), 1);
    }

    #[test]
    fn a_list_or_object_entity_value_is_refused_naming_the_key() {
        for json in [
            r#"{"entities": {"driver_id": [[1, 2]]}}"#,
            r#"{"entities": {"driver_id": [{"id": 1}]}}"#,
        ] {
            let refused = body(json)
                .unwrap()
                .into_request("p".to_owned(), "d".to_owned())
                .unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidArgument, "{json}");
            assert!(refused.to_string().contains("entities.driver_id"), "{refused}");
        }
    }

    #[test]
    fn a_body_with_unknown_fields_or_non_numeric_request_features_is_refused() {
        assert!(body(r#"{"entities": {}, "project": "other"}"#).is_err());
        assert!(body(r#"{"entities": {}, "request_features": {"v:f": ["high"]}}"#).is_err());
        assert!(
            body(r#"{"request_features": {}}"#).is_err(),
            "entities are required"
        );
    }

    #[test]
    fn a_deploy_body_takes_a_challenger_by_mode_name_and_not_the_project() {
        let request: pb::DeployRequest = serde_json::from_str(
            r#"{"model": "churn", "alias": "champion", "monitor": "churn-drift", "sample_rate": 0.1,
                "challenger": {"alias": "challenger", "mode": "canary", "traffic_percent": 10}}"#,
        )
        .unwrap();
        assert_eq!(request.model, "churn");
        let challenger = request.challenger.unwrap();
        assert_eq!(challenger.mode, i32::from(pb::ChallengerMode::Canary));
        assert_eq!(challenger.traffic_percent, 10);
        assert!(serde_json::from_str::<pb::DeployRequest>(r#"{"model": "m", "project": "other"}"#).is_err());
        assert!(serde_json::from_str::<pb::DeployRequest>(r#"{"alias": "champion"}"#).is_err());
    }

    /// The gateway's OpenAPI document, as `/api-docs/openapi.json` serves it.
    fn openapi_document() -> serde_json::Value {
        use utoipa::OpenApi as _;
        use utoipa_actix_web::AppExt as _;
        let (_, doc) = actix_web::App::new()
            .into_utoipa_app()
            .openapi(crate::api::openapi::ApiDoc::openapi())
            .configure(crate::api::routes)
            .split_for_parts();
        serde_json::to_value(crate::api::openapi::finish(doc)).unwrap()
    }

    #[test]
    fn every_serving_route_is_documented_with_its_rules() {
        let doc = openapi_document();
        let expected = [
            ("/deployments", &["get", "post"][..]),
            ("/deployments/{name}", &["get", "delete"]),
            ("/predict/{deployment}", &["post"]),
            ("/predict/{deployment}/batch", &["post"]),
        ];
        for (path, methods) in expected {
            let full = format!("/api/v1/projects/{{project}}{path}");
            for method in methods {
                let operation = &doc["paths"][&full][*method];
                assert!(operation.is_object(), "{method} {full} missing");
                assert_eq!(
                    operation["tags"],
                    serde_json::json!(["serving"]),
                    "{method} {full}"
                );
                assert!(operation["responses"]["403"].is_object(), "{method} {full}");
            }
        }
        let deploying = &doc["paths"]["/api/v1/projects/{project}/deployments"]["post"];
        assert!(deploying["responses"]["201"].is_object(), "{deploying}");
        let listing = &doc["paths"]["/api/v1/projects/{project}/deployments"]["get"];
        let params: Vec<(&str, &str)> = listing["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["name"].as_str()?, p["in"].as_str()?)))
            .collect();
        for param in ["page_size", "page_token"] {
            assert!(params.contains(&(param, "query")), "{param}: {listing}");
        }
        assert!(listing["responses"]["400"].is_object(), "{listing}");
        let predicting = &doc["paths"]["/api/v1/projects/{project}/predict/{deployment}"]["post"];
        assert!(predicting["responses"]["422"].is_object(), "{predicting}");
        for schema in [
            "CreateDeployment",
            "Deployment",
            "DeploymentStats",
            "RoleStats",
            "DeploymentList",
            "Predict",
            "Predictions",
            "Challenger",
            "ChallengerMode",
        ] {
            assert!(
                doc["components"]["schemas"][schema].is_object(),
                "schema {schema}"
            );
        }
        assert!(
            doc["components"]["schemas"]["CreateDeployment"]["properties"]
                .get("project")
                .is_none(),
            "the project comes from the path"
        );
        let schemas = &doc["components"]["schemas"];
        let stats = &schemas["Deployment"]["properties"]["stats"];
        assert!(
            stats.to_string().contains("#/components/schemas/DeploymentStats"),
            "{stats}"
        );
        let described = schemas["DeploymentStats"]["description"].to_string();
        assert!(
            described.contains("a restart starts at zero"),
            "the counts say whose they are: {described}"
        );
        for role in ["champion", "challenger"] {
            let field = schemas["DeploymentStats"]["properties"][role].to_string();
            assert!(
                field.contains("#/components/schemas/RoleStats"),
                "{role}: {field}"
            );
        }
        for field in [
            "version",
            "predictions_total",
            "errors_total",
            "predictions_last_minute",
            "errors_last_minute",
            "per_second",
        ] {
            assert!(
                schemas["RoleStats"]["properties"][field].is_object(),
                "RoleStats.{field}: {}",
                schemas["RoleStats"]
            );
        }
    }
}
