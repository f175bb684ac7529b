//! Stored definitions read on a caller's behalf: a kind must be one of the four, and a miss
//! says whether the definition or its project is missing.

use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};

use super::Catalog;
use crate::definitions::model::{DATA_SOURCE, ENTITY, FEATURE_VIEW, KINDS, StoredDefinition};
use crate::store::definitions::history;

/// Refuses a kind that is none of the four.
pub fn check_kind(kind: &str) -> Result<()> {
    if KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "unknown kind '{kind}': use one of {}",
            KINDS.join(", ")
        )))
    }
}

fn not_found(kind: &str, project: &str, name: &str) -> Error {
    Error::new(
        ErrorCode::NotFound,
        format!(
            "{} '{name}' does not exist in project '{project}'",
            kind.replace('_', " ")
        ),
    )
    .with_reason(match kind {
        ENTITY => reasons::ENTITY_NOT_FOUND,
        FEATURE_VIEW => reasons::FEATURE_VIEW_NOT_FOUND,
        DATA_SOURCE => reasons::DATA_SOURCE_NOT_FOUND,
        _ => reasons::FEATURE_SERVICE_NOT_FOUND,
    })
}

impl Catalog {
    /// The error for a definition not found: `project_not_found` when the project is what is missing.
    pub(super) async fn missing(&self, kind: &str, project: &str, name: &str) -> Error {
        match self.projects.require(project).await {
            Ok(()) => not_found(kind, project, name),
            Err(err) => err,
        }
    }

    /// The current version of one definition.
    pub async fn get(&self, project: &str, kind: &str, name: &str) -> Result<StoredDefinition> {
        check_kind(kind)?;
        match self.store.get(project, kind, name).await? {
            Some(stored) => Ok(stored),
            None => Err(self.missing(kind, project, name).await),
        }
    }

    /// Every definition of a project (of one kind, if given), by kind then name; a project with
    /// none must exist.
    pub async fn list(&self, project: &str, kind: Option<&str>) -> Result<Vec<StoredDefinition>> {
        if let Some(kind) = kind {
            check_kind(kind)?;
        }
        let definitions = self.store.list(project, kind).await?;
        if definitions.is_empty() {
            self.projects.require(project).await?;
        }
        Ok(definitions)
    }

    /// Every applied version of one definition, deletions included, oldest first.
    pub async fn history(&self, project: &str, kind: &str, name: &str) -> Result<Vec<history::Model>> {
        check_kind(kind)?;
        let versions = self.store.history(project, kind, name).await?;
        if versions.is_empty() {
            return Err(self.missing(kind, project, name).await);
        }
        Ok(versions)
    }
}
