//! The check every service makes before it stores something in a project: does the project
//! exist? Asked of the registry-service over gRPC, never of its tables.

use lathe_contract::registry::v1::GetProjectRequest;
use lathe_contract::registry::v1::registry_service_client::RegistryServiceClient;

use crate::config::ConfigError;
use crate::error::{Error, ErrorCode, Result};
use crate::grpc::{self, TracedChannel};
use crate::reasons;

/// The services besides the registry that keep data in projects, by settings section: a
/// project's deletion purges each of them (their `ProjectData` call) before the name is free.
pub const PROJECT_DATA_SERVICES: [&str; 4] = ["features", "orchestrator", "monitor", "serving"];

/// The refusal (409 `project_not_empty`) to delete a project that still holds something,
/// saying what, per kind (`counts` leaves out or holds zeros for kinds it has none of).
pub fn not_empty(project: &str, counts: &std::collections::BTreeMap<String, u64>) -> Error {
    let held: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| format!("{n} {}", kind.replace('_', " ")))
        .collect();
    Error::new(
        ErrorCode::AlreadyExists,
        format!(
            "project '{project}' is not empty: it holds {}; delete those first, or delete the project \
             with ?cascade=true to delete it with everything it holds",
            held.join(", ")
        ),
    )
    .with_reason(reasons::PROJECT_NOT_EMPTY)
}

#[derive(Clone)]
pub struct ProjectCheck {
    client: RegistryServiceClient<TracedChannel>,
}

impl ProjectCheck {
    /// `key` names the endpoint setting, for errors.
    pub fn connect_lazy(endpoint: &str, key: &str) -> Result<ProjectCheck, ConfigError> {
        Ok(ProjectCheck {
            client: RegistryServiceClient::new(grpc::channel(endpoint, key)?),
        })
    }

    /// Fails with `project_not_found` (404) when the registry has no such project.
    /// Asked as the caller in scope ([`crate::access`]), with the caller's rights.
    pub async fn require(&self, project: &str) -> Result<()> {
        crate::validate::project_name("project", project)?;
        let request = GetProjectRequest {
            name: project.to_owned(),
        };
        match self.client.clone().get_project(request).await {
            Ok(_) => Ok(()),
            Err(status) => {
                let err = Error::from(status);
                match err.code {
                    ErrorCode::NotFound => Err(err),
                    ErrorCode::AlreadyExists
                    | ErrorCode::InvalidArgument
                    | ErrorCode::Unprocessable
                    | ErrorCode::FailedPrecondition
                    | ErrorCode::Unauthenticated
                    | ErrorCode::PermissionDenied
                    | ErrorCode::PayloadTooLarge
                    | ErrorCode::ResourceExhausted
                    | ErrorCode::Unavailable
                    | ErrorCode::Internal => Err(Error::new(
                        ErrorCode::Unavailable,
                        format!(
                            "cannot check project '{project}' with the registry: {}",
                            err.message
                        ),
                    )),
                }
            }
        }
    }

    /// `result`, unless it is a miss (404) inside a project that does not exist: then the
    /// project's `project_not_found`, which names what is really missing. A hit costs nothing.
    pub async fn explain_miss<T>(&self, project: &str, result: Result<T>) -> Result<T> {
        match result {
            Err(err) if err.code == ErrorCode::NotFound && err.reason != reasons::PROJECT_NOT_FOUND.name => {
                self.require(project).await?;
                Err(err)
            }
            other => other,
        }
    }
}
