//! Who is calling, over gRPC as over REST: every call to a service's methods carries a bearer
//! JWT (`authorization: Bearer …` metadata), verified by the server with the same keys as the
//! gateway's; handlers take the caller's identity and role from the verified token, never
//! from the message, and check the role and project scope a method needs.
//!
//! A caller's credentials travel with the work done for it: the server runs each handler
//! with its [`Caller`] in scope ([`CALLER`]), and every gRPC client channel
//! ([`crate::grpc::TracedChannel`]) sends the caller in scope along, so a service that calls
//! another on a user's behalf (the gateway, a project check) does so as that user, with the
//! user's rights. In one process the verified caller rides in the request's extensions,
//! which cannot cross a network, so the callee need not verify the token again.

use std::sync::Arc;

use tonic::metadata::MetadataValue;

use crate::auth::{Claims, Role, Verifier, bearer_token};
use crate::error::{Error, ErrorCode};

tokio::task_local! {
    /// The caller whose request the current task is serving.
    pub static CALLER: Caller;
}

/// A verified caller: the token's claims, and the token to forward to other services.
#[derive(Debug, Clone)]
pub struct Caller {
    claims: Arc<Claims>,
    token: Arc<str>,
}

impl Caller {
    pub fn new(claims: Claims, token: &str) -> Caller {
        Caller {
            claims: Arc::new(claims),
            token: token.into(),
        }
    }

    /// The caller an `Authorization` header value (`Bearer <jwt>`) names, once `verifier`
    /// accepts its token.
    pub fn verify(verifier: &Verifier, header: Option<&str>) -> Result<Caller, Error> {
        let claims = verifier.verify_header(header)?;
        Ok(Caller::new(
            claims,
            header.and_then(bearer_token).unwrap_or_default(),
        ))
    }

    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The token's subject: who the audit log names.
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// The caller's highest role (viewer when the token carries none: it may read nothing).
    pub fn role(&self) -> Option<Role> {
        self.claims.role()
    }

    /// Refuses with 403 unless the caller has at least `role` and may touch `project`.
    pub fn require(&self, role: Role, project: &str) -> Result<(), Error> {
        self.claims.require_role(role)?;
        self.claims.require_project(project)
    }

    /// Refuses with 403 unless the caller has at least `role` (for calls outside a project).
    pub fn require_role(&self, role: Role) -> Result<(), Error> {
        self.claims.require_role(role)
    }

    /// The caller of a request a service is handling: put there by the server's
    /// authentication layer ([`authenticate`]), or in scope on this task for calls made
    /// directly in process ([`crate::grpc::Direct`]).
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Caller, Error> {
        if let Some(caller) = request.extensions().get::<Caller>() {
            return Ok(caller.clone());
        }
        CALLER
            .try_with(Caller::clone)
            .map_err(|_| Error::new(ErrorCode::Unauthenticated, "the call carries no verified caller"))
    }

    /// Attaches this caller to an outgoing request: its token as metadata, and the verified
    /// caller as an extension for a server in this process.
    fn attach<T>(&self, request: &mut tonic::Request<T>) {
        if let Ok(value) = MetadataValue::try_from(format!("Bearer {}", self.token)) {
            request.metadata_mut().insert("authorization", value);
        }
        request.extensions_mut().insert(self.clone());
    }
}

/// The first line of a service's handler: the request's verified caller, refused with 403
/// unless it has `role` over `project`.
pub fn require<T>(request: &tonic::Request<T>, role: Role, project: &str) -> Result<Caller, tonic::Status> {
    let caller = Caller::of(request)?;
    caller.require(role, project)?;
    Ok(caller)
}

/// The same for calls that name no project.
pub fn require_role<T>(request: &tonic::Request<T>, role: Role) -> Result<Caller, tonic::Status> {
    let caller = Caller::of(request)?;
    caller.require_role(role)?;
    Ok(caller)
}

/// `future` with the caller in scope now (if any) in scope when it runs: for work spawned
/// onto another task, which does not inherit the caller.
pub fn carry_caller<F: std::future::Future>(future: F) -> impl std::future::Future<Output = F::Output> {
    let caller = CALLER.try_with(Caller::clone).ok();
    async move {
        match caller {
            Some(caller) => CALLER.scope(caller, future).await,
            None => future.await,
        }
    }
}

/// Sends the caller in scope, if any, with every outgoing call; the trace context too.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutgoingInterceptor;

impl tonic::service::Interceptor for OutgoingInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        crate::telemetry::inject_current_context(request.metadata_mut());
        // A call that already names its caller (or a health check outside any request) is left as it is.
        if request.metadata().get("authorization").is_none() {
            let _ = CALLER.try_with(|caller| caller.attach(&mut request));
        }
        Ok(request)
    }
}

/// The server side: verifies the bearer token of a call to the service's own methods (health,
/// reflection and `/metrics` are not behind it) and runs the handler with its [`Caller`], or
/// answers `UNAUTHENTICATED` without calling it. A caller verified in this process comes in
/// the request's extensions and is not verified again.
pub async fn authenticate(
    axum::extract::State(verifier): axum::extract::State<Arc<Verifier>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if is_open(request.uri().path()) {
        return next.run(request).await;
    }
    let caller = match request.extensions().get::<Caller>() {
        Some(caller) => caller.clone(),
        None => {
            let header = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|value| value.to_str().unwrap_or(""));
            match Caller::verify(&verifier, header) {
                Ok(caller) => {
                    request.extensions_mut().insert(caller.clone());
                    caller
                }
                Err(err) => return tonic::Status::from(err).into_http(),
            }
        }
    };
    CALLER.scope(caller, next.run(request)).await
}

/// Health checks (for load balancers), reflection (the contract is public) and `/metrics`.
fn is_open(path: &str) -> bool {
    path == "/metrics" || path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}
