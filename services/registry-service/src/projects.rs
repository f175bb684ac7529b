//! Projects, the tenancy unit that every other service checks against: created, read, listed,
//! changed, and deleted in steps across the services that hold their data.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use lathe_common::projects::PROJECT_DATA_SERVICES;
use lathe_common::reasons;
use lathe_common::{Error, Result, validate};
use lathe_contract::registry::v1 as pb;
use sea_orm::{DatabaseConnection, Set};

use crate::domain::tags::map_to_json;
use crate::proto;
use crate::store::cleanup::CleanupSignal;
use crate::store::project::{self, Creation, Deletion};
use crate::store::project_data;

const MAX_LABELS: usize = 64;

/// The stores projects live in.
pub struct Projects {
    db: DatabaseConnection,
    cleanup: CleanupSignal,
}

impl Projects {
    pub fn new(db: DatabaseConnection, cleanup: CleanupSignal) -> Self {
        Projects { db, cleanup }
    }

    /// Creates a project, unless a deleted one of that name still has data to purge.
    pub async fn create(&self, request: pb::CreateProjectRequest) -> Result<pb::Project> {
        validate::project_name("name", &request.name)?;
        validate_labels(&request.labels)?;
        let now = Utc::now();
        let row = project::ActiveModel {
            name: Set(request.name.clone()),
            description: Set(request.description),
            labels: Set(map_to_json(&request.labels)),
            created_by: Set(request.created_by),
            create_time: Set(now),
            update_time: Set(now),
        };
        match project::create(&self.db, row, &request.name).await? {
            Creation::Created(model) => {
                tracing::info!(project = %model.name, "project created");
                Ok(proto::project(model))
            }
            Creation::Exists => Err(Error::of(
                reasons::PROJECT_ALREADY_EXISTS,
                format!("project '{}' already exists", request.name),
            )),
            Creation::BeingDeleted(pending) => Err(Error::of(
                reasons::PROJECT_BEING_DELETED,
                format!(
                    "project '{}' is still being deleted: the data it had in {} is not removed yet; \
                     repeat DELETE /api/v1/projects/{}?cascade=true to finish, then create it",
                    request.name,
                    pending.join(", "),
                    request.name
                ),
            )),
        }
    }

    pub async fn get(&self, name: &str) -> Result<pb::Project> {
        validate::project_name("name", name)?;
        Ok(proto::project(project::find(&self.db, name).await?))
    }

    /// A page of projects in name order, among `request.only` if it names any.
    pub async fn list(&self, request: pb::ListProjectsRequest) -> Result<pb::ListProjectsResponse> {
        let page_size = crate::paging::page_size(request.page_size)?;
        // The page token is the last name of the previous page: stable under inserts.
        let mut rows = project::page(&self.db, request.page_token, request.only, page_size).await?;
        let next_page_token = if rows.len() as u64 > page_size {
            rows.truncate(usize::try_from(page_size).unwrap_or(usize::MAX));
            rows.last().map(|p| p.name.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListProjectsResponse {
            projects: rows.into_iter().map(proto::project).collect(),
            next_page_token,
        })
    }

    pub async fn update(&self, request: pb::UpdateProjectRequest) -> Result<pb::Project> {
        validate::project_name("name", &request.name)?;
        validate_labels(&request.labels)?;
        let labels = request.replace_labels.then(|| map_to_json(&request.labels));
        let model = project::update(&self.db, &request.name, request.description, labels).await?;
        Ok(proto::project(model))
    }

    /// Deletes the project if it holds nothing.
    pub async fn delete(&self, name: &str) -> Result<()> {
        validate::project_name("name", name)?;
        self.remove(name, false).await?;
        Ok(())
    }

    /// Deletes the project (with all it holds here when `cascade`, else only when it holds
    /// nothing) and records the services still to purge it; the answer lists them, with the
    /// counts of what was deleted. A name already deleted but not yet purged everywhere
    /// answers its pending services again, so the caller can finish the purge.
    async fn remove(&self, name: &str, cascade: bool) -> Result<pb::ProjectDataResponse> {
        let counts = match project::delete(&self.db, name, cascade).await? {
            Deletion::Pending(pending_services) => {
                return Ok(pb::ProjectDataResponse {
                    counts: HashMap::new(),
                    pending_services,
                });
            }
            Deletion::Deleted(counts) => counts,
        };
        if cascade {
            self.cleanup.wake();
        }
        tracing::info!(project = %name, cascade, ?counts, "project deleted");
        Ok(pb::ProjectDataResponse {
            counts: counts.into_iter().collect(),
            pending_services: PROJECT_DATA_SERVICES.map(str::to_owned).to_vec(),
        })
    }

    /// What the project holds here, by kind, or deletes it all (`request.delete`); for a
    /// project deleted but not yet purged everywhere, the services still to purge it.
    pub async fn data(&self, request: pb::ProjectDataRequest) -> Result<pb::ProjectDataResponse> {
        validate::project_name("project", &request.project)?;
        if request.delete {
            return self.remove(&request.project, true).await;
        }
        let counts: BTreeMap<String, u64> = match project::require(&self.db, &request.project).await {
            Ok(()) => project_data::count(&self.db, &request.project).await?,
            Err(err) => {
                let pending_services = project::pending_purges(&self.db, &request.project).await?;
                if pending_services.is_empty() {
                    return Err(err);
                }
                return Ok(pb::ProjectDataResponse {
                    counts: HashMap::new(),
                    pending_services,
                });
            }
        };
        Ok(pb::ProjectDataResponse {
            counts: counts.into_iter().collect(),
            pending_services: Vec::new(),
        })
    }

    /// Records that `request.services` purged the project's data; answers those still to.
    pub async fn purged(&self, request: pb::ProjectPurgedRequest) -> Result<pb::ProjectPurgedResponse> {
        validate::project_name("project", &request.project)?;
        if !request.services.is_empty() {
            project::purged(&self.db, &request.project, request.services).await?;
        }
        let pending_services = project::pending_purges(&self.db, &request.project).await?;
        if pending_services.is_empty() {
            tracing::info!(project = %request.project, "project purged everywhere");
        }
        Ok(pb::ProjectPurgedResponse { pending_services })
    }
}

fn validate_labels(labels: &HashMap<String, String>) -> Result<()> {
    if labels.len() > MAX_LABELS {
        return Err(Error::invalid(format!(
            "labels: at most {MAX_LABELS} labels are allowed"
        )));
    }
    for (key, value) in labels {
        validate::identifier("labels key", key)?;
        if value.len() > 256 {
            return Err(Error::invalid(format!(
                "labels.{key}: values are at most 256 bytes"
            )));
        }
    }
    Ok(())
}
