//! The bearer-token extractor: every `/api/` handler takes an [`Authenticated`], so a route
//! cannot forget authentication.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use lathe_common::Error;
use lathe_common::access::{CALLER, Caller};
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

/// Runs a request whose token verifies with its [`Caller`] in scope, so that every gRPC call
/// its handler makes carries the caller's token and the services decide with the caller's
/// rights ([`lathe_common::access`]). A request without a valid token runs as it is: its
/// handler's [`Authenticated`] refuses it, with the reason.
pub async fn scope_caller(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match (req.app_data::<web::Data<Arc<Verifier>>>(), header) {
        (Some(verifier), Some(header)) => Caller::verify(verifier, Some(header)).ok(),
        _ => None,
    };
    match caller {
        Some(caller) => {
            req.extensions_mut().insert(caller.clone());
            CALLER.scope(caller, next.call(req)).await
        }
        None => next.call(req).await,
    }
}

/// Verifies the request's `Authorization` header.
pub fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    if let Some(caller) = req.extensions().get::<Caller>() {
        let claims = caller.claims().clone();
        tracing::Span::current().record("enduser.id", claims.sub.as_str());
        return Ok(Authenticated(claims));
    }
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
