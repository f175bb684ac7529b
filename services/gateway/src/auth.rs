//! The bearer-token extractor: every `/api/` handler takes an [`Authenticated`], so a route
//! cannot forget authentication.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use lathe_common::Error;
use lathe_common::auth::{Claims, Verifier};

use crate::error::ApiError;

/// The verified claims of the request's bearer token.
pub struct Authenticated(pub Claims);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// Verifies the request's `Authorization` header.
pub fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    let verifier = req
        .app_data::<web::Data<Arc<Verifier>>>()
        .ok_or_else(|| ApiError(Error::internal("the token verifier is not configured")))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let claims = verifier.verify_header(header)?;
    tracing::Span::current().record("enduser.id", claims.sub.as_str());
    Ok(Authenticated(claims))
}
