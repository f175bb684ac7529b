//! Stored definitions read on a caller's behalf: a kind must be one of the four, and a miss
//! says whether the definition or its project is missing.

use lathe_common::projects::ProjectCheck;
use lathe_common::{Error, ErrorCode, Result};

use crate::definitions::model::{DATA_SOURCE, ENTITY, FEATURE_VIEW, KINDS, StoredDefinition};
use crate::store::definitions::{DefinitionStore, history};

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

/// The error for a definition not found: `project_not_found` when the project is what is missing.
pub async fn missing(projects: &ProjectCheck, kind: &str, project: &str, name: &str) -> Error {
    match projects.require(project).await {
        Ok(()) => not_found(kind, project, name),
        Err(err) => err,
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
        ENTITY => "entity_not_found",
        FEATURE_VIEW => "feature_view_not_found",
        DATA_SOURCE => "data_source_not_found",
        _ => "feature_service_not_found",
    })
}

/// The current version of one definition.
pub async fn get(
    store: &DefinitionStore,
    projects: &ProjectCheck,
    project: &str,
    kind: &str,
    name: &str,
) -> Result<StoredDefinition> {
    check_kind(kind)?;
    match store.get(project, kind, name).await? {
        Some(stored) => Ok(stored),
        None => Err(missing(projects, kind, project, name).await),
    }
}

/// Every definition of a project (of one kind, if given), by kind then name; a project with
/// none must exist.
pub async fn list(
    store: &DefinitionStore,
    projects: &ProjectCheck,
    project: &str,
    kind: Option<&str>,
) -> Result<Vec<StoredDefinition>> {
    if let Some(kind) = kind {
        check_kind(kind)?;
    }
    let definitions = store.list(project, kind).await?;
    if definitions.is_empty() {
        projects.require(project).await?;
    }
    Ok(definitions)
}

/// Every applied version of one definition, deletions included, oldest first.
pub async fn history(
    store: &DefinitionStore,
    projects: &ProjectCheck,
    project: &str,
    kind: &str,
    name: &str,
) -> Result<Vec<history::Model>> {
    check_kind(kind)?;
    let versions = store.history(project, kind, name).await?;
    if versions.is_empty() {
        return Err(missing(projects, kind, project, name).await);
    }
    Ok(versions)
}
