//! Extractors that assemble a whole service request from an HTTP request, for the routes whose
//! handler only forwards it: the address comes from the path, the caller from the token, the
//! rest from the JSON body ([`Change`]), the page query ([`Listing`]) or nothing ([`Target`]).
//! Each checks the token first, then the path, then the body or query, as separate extractors
//! in that order would.

use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use lathe_contract::features::v1 as features;
use lathe_contract::monitor::v1 as monitor;
use lathe_contract::orchestrator::v1 as orchestrator;
use lathe_contract::registry::v1 as pb;
use serde::de::DeserializeOwned;

use super::params::{
    AliasPath, ArtifactPath, DefinitionPath, EntityPath, ExperimentPath, ListQuery, MetricPath, ModelPath,
    MonitorPath, PipelinePath, PipelineRunPath, ProjectPath, RunPath, VersionPath,
};
use crate::auth::{Editor, Needs, ProjectAccess, Viewer};

/// A request that names its resource by the path `P` (and may record who asks).
pub trait Addressed<P> {
    fn address(&mut self, path: P, actor: Option<pb::Actor>);
}

/// A request made of the path `P` alone.
pub trait FromPath<P> {
    fn from_path(path: P) -> Self;
}

/// A listing request that names its collection by the path `P`.
pub trait Paged<P> {
    fn page(path: P, page_size: u32, page_token: String) -> Self;
}

/// An editor's change to the resource at `P`: the body `R` with its address and actor filled in.
pub struct Change<P, R> {
    pub request: R,
    path: PhantomData<P>,
}

/// A request about the resource at `P` with no body, by a caller with role `N`.
pub struct Target<N, P, R> {
    pub request: R,
    path: PhantomData<(N, P)>,
}

/// A viewer's listing of the collection at `P`, one page as `?page_size=&page_token=` asks.
pub struct Listing<P, R> {
    pub request: R,
    path: PhantomData<P>,
}

impl<P, R> FromRequest for Change<P, R>
where
    P: DeserializeOwned + 'static,
    R: Addressed<P> + DeserializeOwned + 'static,
{
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

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

impl<N, P, R> FromRequest for Target<N, P, R>
where
    N: Needs,
    P: DeserializeOwned + 'static,
    R: FromPath<P>,
{
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(checked_path::<N, P>(req, payload).map(|path| Target {
            request: R::from_path(path),
            path: PhantomData,
        }))
    }
}

impl<P, R> FromRequest for Listing<P, R>
where
    P: DeserializeOwned + 'static,
    R: Paged<P>,
{
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(checked_path::<Viewer, P>(req, payload).and_then(|path| {
            let query = web::Query::<ListQuery>::from_request(req, payload).into_inner()?;
            let (page_size, page_token) = query.into_inner().page();
            Ok(Listing {
                request: R::page(path, page_size, page_token),
                path: PhantomData,
            })
        }))
    }
}

/// The path `P` of a request whose token has role `N` and covers the path's project.
fn checked_path<N: Needs, P: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Result<P, actix_web::Error> {
    ProjectAccess::<N>::from_request(req, payload).into_inner()?;
    Ok(web::Path::<P>::from_request(req, payload)
        .into_inner()?
        .into_inner())
}

// Which fields of each request its path fills, in the order of the path's `parts()`; `+ actor`
// where the request records who asks.
macro_rules! addressed {
    ($($request:ty: $path:ty => ($($field:ident),+) $(+ $actor:ident)?;)+) => {$(
        impl Addressed<$path> for $request {
            fn address(&mut self, path: $path, _actor: Option<pb::Actor>) {
                ($(self.$field),+) = path.parts();
                $(self.$actor = _actor;)?
            }
        }
    )+};
}

addressed! {
    pb::CreateModelVersionRequest: ModelPath => (project, model) + actor;
    pb::UpdateModelVersionRequest: VersionPath => (project, model, version) + actor;
    pb::TransitionStageRequest: VersionPath => (project, model, version) + actor;
    pb::SetAliasRequest: AliasPath => (project, model, alias) + actor;
    pb::DeleteAliasRequest: AliasPath => (project, model, alias) + actor;
    features::ApplyEntityRequest: EntityPath => (project, name);
    monitor::PutMonitorRequest: MonitorPath => (project, name);
}

impl Addressed<ProjectPath> for pb::CreateExperimentRequest {
    fn address(&mut self, path: ProjectPath, _actor: Option<pb::Actor>) {
        self.project = path.project;
    }
}

// The orchestrator records who acts by subject alone.
impl Addressed<PipelinePath> for orchestrator::TriggerRunRequest {
    fn address(&mut self, path: PipelinePath, actor: Option<pb::Actor>) {
        (self.project, self.pipeline) = path.parts();
        self.actor = actor.map(|actor| actor.subject).unwrap_or_default();
    }
}

// The requests made of their path alone; other fields keep their defaults.
macro_rules! from_path {
    ($($request:ty: $path:ty => ($($field:ident),+);)+) => {$(
        impl FromPath<$path> for $request {
            fn from_path(path: $path) -> Self {
                let ($($field),+) = path.parts();
                #[allow(clippy::needless_update, reason = "some requests have no other field")]
                Self { $($field,)+ ..Default::default() }
            }
        }
    )+};
}

from_path! {
    pb::ModelRef: ModelPath => (project, name);
    pb::ModelVersionRef: VersionPath => (project, model, version);
    pb::AliasRef: AliasPath => (project, model, alias);
    pb::ExperimentRef: ExperimentPath => (project, experiment_id);
    pb::GetExperimentRequest: ExperimentPath => (project, experiment_id);
    pb::RunRef: RunPath => (project, run_id);
    pb::ArtifactRef: ArtifactPath => (project, run_id, path);
    features::GetEntityRequest: EntityPath => (project, name);
    features::DeleteEntityRequest: EntityPath => (project, name);
    features::GetDefinitionRequest: DefinitionPath => (project, kind, name);
    orchestrator::PipelineRef: PipelinePath => (project, name);
    orchestrator::RunRef: PipelineRunPath => (project, run_id);
    monitor::GetMonitorRequest: MonitorPath => (project, name);
    monitor::DeleteMonitorRequest: MonitorPath => (project, name);
    monitor::GetReferenceRequest: MonitorPath => (project, monitor);
}

// The listings: the path's fields, then the page.
macro_rules! paged {
    ($($request:ty: $path:ty => ($($field:ident),+);)+) => {$(
        impl Paged<$path> for $request {
            fn page(path: $path, page_size: u32, page_token: String) -> Self {
                let ($($field),+) = path.parts();
                Self { $($field,)+ page_size, page_token }
            }
        }
    )+};
}

paged! {
    pb::ListModelVersionsRequest: ModelPath => (project, model);
    pb::ListAuditEventsRequest: ModelPath => (project, model);
    pb::GetMetricHistoryRequest: MetricPath => (project, run_id, key);
}
