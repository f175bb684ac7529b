//! HTTP routes of the gateway. A route is declared once, on its handler: the actix method
//! attribute gives its method and path (relative to its scope), `#[utoipa::path]` its OpenAPI
//! entry, and its access extractor (`ProjectAccess<Editor>`) who may call it. [`routes`]
//! registers each handler once; the OpenAPI document is collected from that registration, with
//! the rules every route shares added by [`openapi::finish`].

pub mod artifacts;
pub mod entities;
pub mod features;
pub mod mlflow;
pub mod models;
pub mod monitors;
pub mod online_json;
pub mod openapi;
pub mod params;
pub mod pipelines;
pub mod projects;
pub mod requests;
pub mod serving;
pub mod session;
pub mod system;
pub mod tracking;
pub mod whoami;

use chrono::{DateTime, Utc};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// RFC 3339 form of a protobuf timestamp.
pub(crate) fn rfc3339(ts: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|ts| DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap_or(0)))
}

/// Every route of the gateway.
pub fn routes(cfg: &mut ServiceConfig) {
    // Serving first: actix tries routes in order, and every dynamic route it passes costs a
    // regex match (a few percent of an online read's CPU at the end of the list); the
    // project's other routes sit in scopes, see below.
    cfg.service(features::feast_online_features)
        .service(features::online_features)
        .service(serving::predict)
        .service(features::feast_push)
        .service(features::push_rows)
        .service(system::healthz)
        .service(system::readyz)
        .service(system::metrics)
        .service(whoami::whoami)
        .service(session::sign_in)
        .service(session::sign_out)
        .service(projects::list_projects)
        .service(projects::create_project)
        .service(projects::get_project)
        .service(projects::update_project)
        .service(projects::delete_project)
        // The routes under `/api/v1/projects/{project}`, one scope per kind of resource. actix
        // matches a dynamic route with a regex and tries routes in order, so a flat list of the
        // gateway's forty routes cost a request at its end forty regex matches: a quarter of the
        // gateway's CPU for a registry read (perf of get-version at c=8). Here a request matches the
        // project scope's one regex, a static prefix, then only its own scope's routes. The
        // project's own routes (`/api/v1/projects/{name}`) are registered before this scope, which
        // would otherwise take their paths as its prefix.
        .service(
            scope::scope("/api/v1/projects/{project}")
                .service(
                    scope::scope("/models")
                        .service(models::get_model_version)
                        .service(models::get_alias)
                        .service(models::get_model)
                        .service(models::list_model_versions)
                        .service(models::create_model_version)
                        .service(models::create_model)
                        .service(models::list_models)
                        .service(models::update_model)
                        .service(models::delete_model)
                        .service(models::update_model_version)
                        .service(models::transition_stage)
                        .service(models::evaluate_gates)
                        .service(models::set_alias)
                        .service(models::delete_alias)
                        .service(models::list_audit_events),
                )
                .service(
                    scope::scope("/runs")
                        .service(tracking::search_runs)
                        .service(tracking::create_run)
                        .service(tracking::get_run)
                        .service(tracking::update_run)
                        .service(tracking::delete_run)
                        .service(tracking::log_batch)
                        .service(tracking::get_metric_history)
                        .service(artifacts::list_artifacts)
                        .service(artifacts::upload_artifact)
                        .service(artifacts::download_artifact),
                )
                .service(
                    scope::scope("/experiments")
                        .service(tracking::create_experiment)
                        .service(tracking::list_experiments)
                        .service(tracking::get_experiment)
                        .service(tracking::update_experiment)
                        .service(tracking::delete_experiment)
                        .service(tracking::restore_experiment),
                )
                .service(
                    scope::scope("/features")
                        .service(features::apply_repository)
                        .service(features::list_definitions)
                        .service(features::get_definition)
                        .service(features::definition_history)
                        .service(features::historical_features)
                        .service(features::materialize)
                        .service(features::list_materializations)
                        .service(features::ingest_file),
                )
                .service(
                    scope::scope("/entities")
                        .service(entities::list_entities)
                        .service(entities::apply_entity)
                        .service(entities::get_entity)
                        .service(entities::delete_entity),
                )
                .service(
                    scope::scope("/pipelines")
                        .service(pipelines::apply_pipelines)
                        .service(pipelines::list_pipelines)
                        .service(pipelines::get_pipeline)
                        .service(pipelines::delete_pipeline)
                        .service(pipelines::trigger_run),
                )
                .service(
                    scope::scope("/pipeline-runs")
                        .service(pipelines::list_runs)
                        .service(pipelines::get_run)
                        .service(pipelines::cancel_run)
                        .service(pipelines::rerun_run)
                        .service(pipelines::read_task_log),
                )
                .service(
                    scope::scope("/monitors")
                        .service(monitors::list_monitors)
                        .service(monitors::put_monitor)
                        .service(monitors::get_monitor)
                        .service(monitors::delete_monitor)
                        .service(monitors::set_reference)
                        .service(monitors::get_reference)
                        .service(monitors::log_rows)
                        .service(monitors::log_labels)
                        .service(monitors::check_window)
                        .service(monitors::list_windows)
                        .service(monitors::get_report)
                        .service(monitors::get_report_html),
                )
                .service(
                    scope::scope("/deployments")
                        .service(serving::list_deployments)
                        .service(serving::deploy)
                        .service(serving::get_deployment)
                        .service(serving::undeploy),
                )
                .service(scope::scope("/predict").service(serving::batch_predict))
                .service(scope::scope("/alerts").service(monitors::list_alerts))
                .service(scope::scope("/drift").service(monitors::compare))
                .service(models::find_versions_by_lineage),
        )
        // MLflow's REST API, outside the OpenAPI document (its contract is MLflow's).
        .map(mlflow::routes);
}

/// What a handler answers: a response, or an error as the one JSON error body.
pub type Reply = Result<actix_web::HttpResponse, crate::error::ApiError>;

/// The services' gRPC clients, as a handler takes them.
pub type Services = actix_web::web::Data<crate::backends::Backends>;

/// 200 with a service's answer as the JSON body.
pub(crate) fn ok<T: serde::Serialize>(answer: tonic::Response<T>) -> Reply {
    Ok(actix_web::HttpResponse::Ok().json(answer.into_inner()))
}

/// 201 with the created resource, a service's answer, as the JSON body.
pub(crate) fn created<T: serde::Serialize>(answer: tonic::Response<T>) -> Reply {
    Ok(actix_web::HttpResponse::Created().json(answer.into_inner()))
}
