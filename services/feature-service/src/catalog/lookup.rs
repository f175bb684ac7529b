//! Stored definitions read on a caller's behalf: a kind must be one of the four, and a miss
//! says whether the definition or its project is missing.

use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};

use super::Catalog;
use super::paging::{self, PageRequest};
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

    /// One page of the definitions of a project (of one kind, if given), by kind then name,
    /// and the token of the next page; a project with none must exist.
    pub async fn list_page(
        &self,
        project: &str,
        kind: Option<&str>,
        page: &PageRequest,
    ) -> Result<(Vec<StoredDefinition>, String)> {
        if let Some(kind) = kind {
            check_kind(kind)?;
        }
        let limit = page.limit()?;
        let after = paging::decode_definition_token(&page.token, kind)?;
        let mut definitions = self
            .store
            .list_page(project, kind, after.as_ref(), limit + 1)
            .await?;
        if definitions.is_empty() {
            self.projects.require(project).await?;
        }
        let next = lathe_common::paging::finish_page(&mut definitions, limit, |d| {
            paging::definition_key(d.spec.kind(), d.spec.name())
        });
        Ok((definitions, next))
    }

    /// One page of the applied versions of one definition, deletions included, oldest first,
    /// and the token of the next page.
    pub async fn history_page(
        &self,
        project: &str,
        kind: &str,
        name: &str,
        page: &PageRequest,
    ) -> Result<(Vec<history::Model>, String)> {
        check_kind(kind)?;
        let limit = page.limit()?;
        let after = paging::decode_version_token(&page.token)?;
        let mut versions = self
            .store
            .history_page(project, kind, name, after, limit + 1)
            .await?;
        // A page after the last version is empty without the definition being missing.
        if versions.is_empty()
            && (after.is_none()
                || self
                    .store
                    .history_page(project, kind, name, None, 1)
                    .await?
                    .is_empty())
        {
            return Err(self.missing(kind, project, name).await);
        }
        let next =
            lathe_common::paging::finish_page(&mut versions, limit, |v| paging::version_key(v.version));
        Ok((versions, next))
    }
}
