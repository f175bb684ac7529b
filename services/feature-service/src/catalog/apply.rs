//! A whole feature repository applied: its files loaded and checked, planned against the
//! stored definitions and, unless it is a dry run, applied in one transaction.

use lathe_common::{Result, validate};

use super::Catalog;
use crate::definitions::plan::{self, Action, Change};
use crate::definitions::repository;

impl Catalog {
    /// The planned changes (`path`, `content`) files make to a project; applied by `actor` (the
    /// history says "api" when it is empty) unless `dry_run`.
    pub async fn apply_repository(
        &self,
        project: &str,
        files: &[(String, String)],
        dry_run: bool,
        actor: &str,
    ) -> Result<Vec<Change>> {
        validate::project_name("project", project)?;
        self.projects.require(project).await?;
        let desired = repository::load(project, files)?;
        let stored = self.store.list(project, None).await?;
        let changes = plan::plan(&desired, &stored)?;
        if !dry_run {
            let actor = if actor.is_empty() { "api" } else { actor };
            self.store.apply(project, &changes, actor).await?;
            let changed = changes.iter().filter(|c| c.action != Action::Unchanged).count();
            tracing::info!(project = %project, changed, "feature repository applied");
        }
        Ok(changes)
    }
}
