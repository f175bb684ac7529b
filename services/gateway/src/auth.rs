//! The access extractors: every `/api/` handler takes an [`Authenticated`], an [`Access`] or a
//! [`ProjectAccess`], so a route cannot forget authentication, and its role and project rule
//! is written in its signature (`ProjectAccess<Editor>`) instead of a preamble.

use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::sync::Arc;

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use lathe_common::Error;
use lathe_common::access::{CALLER, Caller};
use lathe_common::auth::{Claims, Role, Verifier};
use lathe_contract::registry::v1 as pb;

use crate::error::ApiError;
use crate::session;

/// The verified claims of the request's bearer token.
pub struct Authenticated(pub Claims);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// The role a route needs; each includes the rights of those before it.
pub trait Needs {
    const ROLE: Role;
}

pub struct Viewer;
pub struct Editor;
pub struct Admin;

impl Needs for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl Needs for Editor {
    const ROLE: Role = Role::Editor;
}
impl Needs for Admin {
    const ROLE: Role = Role::Admin;
}

/// A caller whose token has at least role `R` (403 otherwise).
pub struct Access<R> {
    pub claims: Claims,
    role: PhantomData<R>,
}

impl<R: Needs> FromRequest for Access<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|Authenticated(claims)| {
            claims.require_role(R::ROLE)?;
            Ok(Access {
                claims,
                role: PhantomData,
            })
        }))
    }
}

/// A caller whose token has at least role `R` and covers the route's `{project}` (403
/// otherwise).
pub struct ProjectAccess<R> {
    pub claims: Claims,
    pub project: String,
    role: PhantomData<R>,
}

impl<R> ProjectAccess<R> {
    /// The caller as the registry records it and judges it by promotion gates.
    pub fn actor(&self) -> Option<pb::Actor> {
        Some(pb::Actor {
            subject: self.claims.sub.clone(),
            role: self.claims.role().map_or("", Role::as_str).to_owned(),
        })
    }
}

impl<R: Needs> FromRequest for ProjectAccess<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|Authenticated(claims)| {
            claims.require_role(R::ROLE)?;
            let project = req
                .match_info()
                .get("project")
                .ok_or_else(|| Error::internal("a project route without {project}"))?
                .to_owned();
            claims.require_project(&project)?;
            Ok(ProjectAccess {
                claims,
                project,
                role: PhantomData,
            })
        }))
    }
}

/// Runs a request whose token (header or session cookie) verifies with its [`Caller`] in scope, so that every gRPC call
/// its handler makes carries the caller's token and the services decide with the caller's
/// rights ([`lathe_common::access`]). A request without a valid token runs as it is: its
/// handler's [`Authenticated`] refuses it, with the reason.
pub async fn scope_caller(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let credential = match session::credential(req.headers(), req.method()) {
        Ok(credential) => credential,
        Err(refused) => {
            let response = ApiError(refused).error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    };
    let caller = match (req.app_data::<web::Data<Arc<Verifier>>>(), credential) {
        (Some(verifier), Some(credential)) => Caller::verify(verifier, Some(&credential)).ok(),
        _ => None,
    };
    let response = match caller {
        Some(caller) => {
            req.extensions_mut().insert(caller.clone());
            CALLER.scope(caller, next.call(req)).await?
        }
        None => next.call(req).await?,
    };
    Ok(response.map_into_left_body())
}

/// Verifies the request's credential: its `Authorization` header, or its session cookie
/// ([`session::credential`]).
pub fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    if let Some(caller) = req.extensions().get::<Caller>() {
        let claims = caller.claims().clone();
        tracing::Span::current().record("enduser.id", claims.sub.as_str());
        return Ok(Authenticated(claims));
    }
    let verifier = req
        .app_data::<web::Data<Arc<Verifier>>>()
        .ok_or_else(|| ApiError(Error::internal("the token verifier is not configured")))?;
    let credential = session::credential(req.headers(), req.method())?;
    let claims = verifier.verify_header(credential.as_deref())?;
    tracing::Span::current().record("enduser.id", claims.sub.as_str());
    Ok(Authenticated(claims))
}
