//! Who the bearer token says the caller is.

use actix_web::{HttpResponse, get};
use chrono::{DateTime, Utc};
use lathe_common::auth::{Claims, Role};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ErrorBody;

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub subject: String,
    /// The highest role the token carries.
    #[schema(value_type = Option<String>, example = "editor")]
    pub role: Option<Role>,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    /// Projects the token may touch; `*` means all.
    pub projects: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The caller's identity, role and project scope.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)),
)]
#[get("/api/v1/whoami")]
pub async fn whoami(Authenticated(claims): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(WhoAmI::of(&claims))
}

impl WhoAmI {
    pub fn of(claims: &Claims) -> WhoAmI {
        WhoAmI {
            subject: claims.sub.clone(),
            role: claims.role(),
            roles: claims.roles.clone(),
            projects: claims.projects.clone(),
            expires_at: DateTime::from_timestamp(claims.exp, 0),
        }
    }
}
