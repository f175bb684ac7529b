//! Extractors that assemble a whole service request from an HTTP request, for the routes whose
//! handler only forwards it: the address comes from the path, the caller from the token, the
//! rest from the JSON body ([`Change`]) or the page query ([`Listing`]).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use lathe_contract::registry::v1 as pb;
use serde::de::DeserializeOwned;

use super::params::{AliasPath, ListQuery, ModelPath, VersionPath};
use crate::auth::{Editor, ProjectAccess, Viewer};

/// A request that names its resource by the path `P` and records who asks.
pub trait Addressed<P> {
    fn address(&mut self, path: P, actor: Option<pb::Actor>);
}

/// A listing request that names its collection by the path `P`.
pub trait Paged<P> {
    fn page(path: P, page_size: u32, page_token: String) -> Self;
}

/// An editor's change to the resource at `P`: the body `R` with its address and actor filled
/// in. The token is checked before the path, the path before the body, as separate extractors
/// would be.
pub struct Change<P, R> {
    pub request: R,
    path: PhantomData<P>,
}

/// A viewer's listing of the collection at `P`, one page as `?page_size=&page_token=` asks.
pub struct Listing<P, R> {
    pub request: R,
    path: PhantomData<P>,
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

impl<P, R> FromRequest for Change<P, R>
where
    P: DeserializeOwned + 'static,
    R: Addressed<P> + DeserializeOwned + 'static,
{
    type Error = actix_web::Error;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let access = ProjectAccess::<Editor>::from_request(req, payload).into_inner();
        let path = web::Path::<P>::from_request(req, payload).into_inner();
        let body = web::Json::<R>::from_request(req, payload);
        Box::pin(async move {
            let access = access?;
            let path = path?;
            let mut request = body.await?.into_inner();
            request.address(path.into_inner(), access.actor());
            Ok(Change {
                request,
                path: PhantomData,
            })
        })
    }
}

impl<P, R> FromRequest for Listing<P, R>
where
    P: DeserializeOwned + 'static,
    R: Paged<P> + 'static,
{
    type Error = actix_web::Error;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let listing = ProjectAccess::<Viewer>::from_request(req, payload)
            .into_inner()
            .map_err(actix_web::Error::from)
            .and_then(|_| web::Path::<P>::from_request(req, payload).into_inner())
            .and_then(|path| {
                let query = web::Query::<ListQuery>::from_request(req, payload).into_inner()?;
                let (page_size, page_token) = query.into_inner().page();
                Ok(Listing {
                    request: R::page(path.into_inner(), page_size, page_token),
                    path: PhantomData,
                })
            });
        Box::pin(std::future::ready(listing))
    }
}

// Which fields of each request the path fills: `(project, model)` from a `ModelPath`, and so on.
macro_rules! addressed {
    ($($request:ty: $path:ty => ($($field:ident),+);)+) => {$(
        impl Addressed<$path> for $request {
            fn address(&mut self, path: $path, actor: Option<pb::Actor>) {
                ($(self.$field),+) = path.parts();
                self.actor = actor;
            }
        }
    )+};
}

addressed! {
    pb::CreateModelVersionRequest: ModelPath => (project, model);
    pb::UpdateModelVersionRequest: VersionPath => (project, model, version);
    pb::TransitionStageRequest: VersionPath => (project, model, version);
    pb::SetAliasRequest: AliasPath => (project, model, alias);
    pb::DeleteAliasRequest: AliasPath => (project, model, alias);
}

// The listings of one model's versions and audit events.
macro_rules! model_listing {
    ($($request:ty),+) => {$(
        impl Paged<ModelPath> for $request {
            fn page(path: ModelPath, page_size: u32, page_token: String) -> Self {
                let (project, model) = path.parts();
                Self { project, model, page_size, page_token }
            }
        }
    )+};
}

model_listing!(pb::ListModelVersionsRequest, pb::ListAuditEventsRequest);
