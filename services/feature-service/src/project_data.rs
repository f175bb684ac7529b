//! What a project holds in this service, counted or deleted as steps of the project's
//! deletion: its definitions with their history, its materialization state and online rows.

use lathe_common::{Result, validate};

use crate::online::OnlineStore;
use crate::store::definitions::DefinitionStore;

/// How many definitions the project holds.
pub async fn count(definitions: &DefinitionStore, project: &str) -> Result<u64> {
    validate::project_name("project", project)?;
    definitions.count_project(project).await
}

/// Deletes everything the project holds; returns how many definitions it had. Online rows go
/// first: while they remain, the views that hold them remain listed, so a failed call can be
/// repeated.
pub async fn delete(definitions: &DefinitionStore, online: &dyn OnlineStore, project: &str) -> Result<u64> {
    validate::project_name("project", project)?;
    for view in definitions.project_views(project).await? {
        online.delete_view(project, &view).await?;
    }
    let n = definitions.delete_project(project).await?;
    tracing::info!(project = %project, definitions = n, "project's feature data deleted");
    Ok(n)
}
