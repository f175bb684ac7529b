//! MLflow's REST API, so that the `mlflow` client works against Lathe with only
//! `MLFLOW_TRACKING_URI` and `MLFLOW_TRACKING_TOKEN` set: `/api/2.0/mlflow/...` (experiments,
//! runs, metric history, logged models, registered models, versions, stages and aliases), the artifact proxy `/api/2.0/mlflow-artifacts/artifacts/...`,
//! `/api/3.0/mlflow/server-info`, `/health` and `/version`, each mapped onto the
//! registry-service's gRPC API, so that what MLflow logs is what `/api/v1` shows.
//!
//! The wire follows MLflow 3.x (`docs/mlflow.md`): GET fields in the query string, other fields
//! in a JSON body, empty fields left out of answers, errors as
//! `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": …}` with MLflow's statuses. These routes
//! are MLflow's contract, not Lathe's, so they stay out of the OpenAPI document.

pub mod artifacts;
pub mod entities;
pub mod error;
pub mod experiment_search;
pub mod experiments;
pub mod logged_models;
pub mod models;
pub mod request;
pub mod runs;
pub mod server;

use actix_web::middleware::from_fn;
use actix_web::{Resource, Route, web};

/// A path of the scope with its one method.
fn at(path: &str, route: Route) -> Resource {
    web::resource(path).route(route)
}

/// Registers the MLflow surface. Its paths start with static prefixes of their own, so it adds
/// no regex match to Lathe's routes.
pub fn routes(cfg: &mut web::ServiceConfig) -> &mut web::ServiceConfig {
    cfg.route("/health", web::get().to(server::health))
        .route("/version", web::get().to(server::version))
        .route("/api/3.0/mlflow/server-info", web::get().to(server::server_info))
        .service(
            web::scope("/api/2.0/mlflow-artifacts")
                .wrap(from_fn(error::mlflow_shaped))
                .route("/artifacts", web::get().to(artifacts::list))
                .service(
                    web::resource("/artifacts/{path:.*}")
                        .route(web::get().to(artifacts::download))
                        .route(web::put().to(artifacts::upload)),
                )
                .default_service(web::to(server::endpoint_not_found)),
        )
        .service(
            web::scope("/api/2.0/mlflow")
                .wrap(from_fn(error::mlflow_shaped))
                .service(at("/experiments/create", web::post().to(experiments::create)))
                .service(at("/experiments/get", web::get().to(experiments::get)))
                .service(at(
                    "/experiments/get-by-name",
                    web::get().to(experiments::get_by_name),
                ))
                .service(
                    web::resource("/experiments/search")
                        .route(web::post().to(experiments::search_post))
                        .route(web::get().to(experiments::search_get)),
                )
                .service(at("/experiments/delete", web::post().to(experiments::delete)))
                .service(at("/experiments/restore", web::post().to(experiments::restore)))
                .service(at("/experiments/update", web::post().to(experiments::update)))
                .service(at(
                    "/experiments/set-experiment-tag",
                    web::post().to(experiments::set_tag),
                ))
                // MLflow's client sends POST; its server takes DELETE too.
                .service(
                    web::resource("/experiments/delete-experiment-tag")
                        .route(web::post().to(experiments::delete_tag))
                        .route(web::delete().to(experiments::delete_tag)),
                )
                .service(at("/logged-models", web::post().to(logged_models::create)))
                .service(at("/logged-models/search", web::post().to(logged_models::search)))
                .service(
                    web::resource("/logged-models/{model_id}")
                        .route(web::get().to(logged_models::get))
                        .route(web::patch().to(logged_models::finalize))
                        .route(web::delete().to(logged_models::delete)),
                )
                .service(at(
                    "/logged-models/{model_id}/tags",
                    web::patch().to(logged_models::set_tags),
                ))
                .service(at(
                    "/logged-models/{model_id}/tags/{key:.*}",
                    web::delete().to(logged_models::delete_tag),
                ))
                .service(at("/runs/outputs", web::post().to(logged_models::log_outputs)))
                .service(at("/runs/create", web::post().to(runs::create)))
                .service(at("/runs/get", web::get().to(runs::get)))
                .service(at("/runs/update", web::post().to(runs::update)))
                .service(at("/runs/log-metric", web::post().to(runs::log_metric)))
                .service(at("/runs/log-parameter", web::post().to(runs::log_param)))
                .service(at("/runs/log-batch", web::post().to(runs::log_batch)))
                .service(at("/runs/set-tag", web::post().to(runs::set_tag)))
                .service(at("/runs/search", web::post().to(runs::search)))
                .service(at("/runs/delete", web::post().to(runs::delete)))
                .service(at("/runs/restore", web::post().to(runs::restore)))
                .service(at("/runs/delete-tag", web::post().to(runs::delete_tag)))
                .service(at("/metrics/get-history", web::get().to(runs::metric_history)))
                .service(at(
                    "/registered-models/create",
                    web::post().to(models::create_model),
                ))
                .service(at("/registered-models/get", web::get().to(models::get_model)))
                .service(at(
                    "/registered-models/search",
                    web::get().to(models::search_models),
                ))
                .service(
                    web::resource("/registered-models/get-latest-versions")
                        .route(web::post().to(models::latest_versions_post))
                        .route(web::get().to(models::latest_versions_get)),
                )
                .service(at(
                    "/registered-models/update",
                    web::patch().to(models::update_model),
                ))
                .service(at(
                    "/registered-models/rename",
                    web::post().to(models::rename_model),
                ))
                .service(at(
                    "/registered-models/delete",
                    web::delete().to(models::delete_model),
                ))
                .service(at(
                    "/registered-models/set-tag",
                    web::post().to(models::set_model_tag),
                ))
                .service(at(
                    "/registered-models/delete-tag",
                    web::delete().to(models::delete_model_tag),
                ))
                .service(
                    web::resource("/registered-models/alias")
                        .route(web::get().to(models::get_alias))
                        .route(web::post().to(models::set_alias))
                        .route(web::delete().to(models::delete_alias)),
                )
                .service(at(
                    "/model-versions/create",
                    web::post().to(models::create_version),
                ))
                .service(at("/model-versions/get", web::get().to(models::get_version)))
                .service(at(
                    "/model-versions/get-download-uri",
                    web::get().to(models::get_download_uri),
                ))
                .service(at(
                    "/model-versions/search",
                    web::get().to(models::search_versions),
                ))
                .service(at(
                    "/model-versions/update",
                    web::patch().to(models::update_version),
                ))
                .service(at(
                    "/model-versions/transition-stage",
                    web::post().to(models::transition_stage),
                ))
                .service(at(
                    "/model-versions/set-tag",
                    web::post().to(models::set_version_tag),
                ))
                .service(at(
                    "/model-versions/delete",
                    web::delete().to(models::delete_version),
                ))
                .service(at(
                    "/model-versions/delete-tag",
                    web::delete().to(models::delete_version_tag),
                ))
                .default_service(web::to(server::endpoint_not_found)),
        )
}
