//! The OpenAPI 3.1 document of the HTTP API, served at `/api-docs/openapi.json` and browsable
//! at `/api-docs/` (Swagger UI, vendored into the binary: no CDN). Its paths and schemas are
//! collected from the routes as [`super::routes`] registers them; [`ApiDoc`] gives the rest.

use lathe_common::{ErrorCode, reasons};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, URI_TOO_LONG};

#[derive(OpenApi)]
#[openapi(
    info(title = "Lathe API", description = "Features, models, pipelines, monitoring and serving behind one gateway."),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Liveness, readiness, metrics"),
        (name = "auth", description = "The caller's token"),
        (name = "session", description = "Browser sessions: a token kept in an HttpOnly cookie, with a CSRF token for requests that change state"),
        (name = "projects", description = "Projects: the unit of tenancy"),
        (name = "features", description = "Feature store definitions"),
        (name = "tracking", description = "Experiments, runs, metrics, params and tags"),
        (name = "artifacts", description = "Files of a run, streamed to and from object storage"),
        (name = "models", description = "Model registry: versions, stages under promotion gates, aliases, audit, lineage"),
        (name = "pipelines", description = "Pipelines of tasks defined in YAML: versions, runs, task instances and their logs"),
        (name = "monitoring", description = "Drift monitors: reference samples, logged rows and labels, checked windows, drift reports, alerts, ad hoc comparison"),
        (name = "serving", description = "Deployments of a model behind an alias (canary or shadow challengers), online predictions, batch scoring"),
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

/// The list of error reasons under `ErrorBody.code`: the codes' own names, then every
/// specific reason of `lathe_common::reasons` with its status and meaning.
fn reason_list() -> String {
    let codes: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|code| format!("`{}` ({})", code.as_str(), code.http_status()))
        .collect();
    let mut list = format!(
        "\n\nAn error without a more specific reason carries its kind: {}.\n\nSpecific reasons:\n",
        codes.join(", ")
    );
    for reason in reasons::ALL {
        list.push_str(&format!(
            "- `{}` ({}): {}\n",
            reason.name,
            reason.code.http_status(),
            reason.meaning
        ));
    }
    list.push_str(&format!(
        "- `{URI_TOO_LONG}` (414): the URL's path and query are over the gateway's limit; send long inputs in a body.\n"
    ));
    list
}

/// Adds what every route shares to the collected document: every operation outside the
/// `system` tag needs the bearer token (and may answer 401); every one outside `system` and
/// `auth` checks a role or project (and may answer 403). The error body lists every reason.
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let error_code = doc
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut("ErrorBody"))
        .and_then(|schema| match schema {
            RefOr::T(Schema::Object(body)) => body.properties.get_mut("code"),
            RefOr::T(_) | RefOr::Ref(_) => None,
        });
    if let Some(RefOr::T(Schema::Object(code))) = error_code {
        let described = code.description.take().unwrap_or_default();
        code.description = Some(described + &reason_list());
    }
    let refused = || {
        ResponseBuilder::new()
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let tags = operation.tags.as_deref().unwrap_or_default();
            let tagged = |name: &str| tags.iter().any(|tag| tag == name);
            if tagged("system") || tagged("session") {
                continue;
            }
            operation.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
            operation
                .responses
                .responses
                .insert("401".to_owned(), refused().into());
            if !tagged("auth") {
                operation
                    .responses
                    .responses
                    .insert("403".to_owned(), refused().into());
            }
        }
    }
    doc
}
