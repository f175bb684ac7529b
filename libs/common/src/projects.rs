//! The check every service makes before it stores something in a project: does the project
//! exist? Asked of the registry-service over gRPC, never of its tables.

use lathe_contract::registry::v1::GetProjectRequest;
use lathe_contract::registry::v1::registry_service_client::RegistryServiceClient;

use crate::config::ConfigError;
use crate::error::{Error, ErrorCode, Result};
use crate::grpc::{self, TracedChannel};

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
                    _ => Err(Error::new(
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
}
