//! The OpenAPI 3.1 document of the HTTP API, served at `/api-docs/openapi.json` and browsable
//! at `/api-docs/` (Swagger UI, vendored into the binary: no CDN).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{artifacts, entities, features, models, projects, system, tracking, whoami};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(title = "Lathe API", description = "Features, models, pipelines and monitoring behind one gateway."),
    paths(
        system::healthz, system::readyz, system::metrics,
        whoami::whoami,
        projects::list_projects, projects::create_project, projects::get_project, projects::update_project,
        projects::delete_project,
        entities::apply_entity, entities::get_entity, entities::list_entities, entities::delete_entity,
        features::apply_repository, features::list_definitions, features::get_definition,
        features::definition_history, features::historical_features, features::materialize,
        features::online_features, features::feast_online_features, features::push_rows, features::feast_push,
        tracking::create_experiment, tracking::list_experiments, tracking::get_experiment,
        tracking::update_experiment, tracking::delete_experiment, tracking::restore_experiment,
        tracking::create_run, tracking::get_run, tracking::update_run, tracking::delete_run,
        tracking::log_batch, tracking::get_metric_history, tracking::search_runs,
        artifacts::upload_artifact, artifacts::download_artifact, artifacts::list_artifacts,
        models::create_model, models::list_models, models::get_model, models::update_model, models::delete_model,
        models::create_model_version, models::list_model_versions, models::get_model_version,
        models::update_model_version, models::transition_stage,
        models::set_alias, models::delete_alias, models::get_alias,
        models::list_audit_events, models::find_versions_by_lineage,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Liveness, readiness, metrics"),
        (name = "auth", description = "The caller's token"),
        (name = "projects", description = "Projects: the unit of tenancy"),
        (name = "features", description = "Feature store definitions"),
        (name = "tracking", description = "Experiments, runs, metrics, params and tags"),
        (name = "artifacts", description = "Files of a run, streamed to and from object storage"),
        (name = "models", description = "Model registry: versions, stages under promotion gates, aliases, audit, lineage"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
