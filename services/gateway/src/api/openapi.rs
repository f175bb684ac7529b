//! The OpenAPI 3.1 document of the HTTP API, served at `/api-docs/openapi.json` and browsable
//! at `/api-docs/` (Swagger UI, vendored into the binary: no CDN).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{entities, projects, system, whoami};
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
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Liveness, readiness, metrics"),
        (name = "auth", description = "The caller's token"),
        (name = "projects", description = "Projects: the unit of tenancy"),
        (name = "features", description = "Feature store definitions"),
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
