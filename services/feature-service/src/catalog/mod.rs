//! The catalog of a project's definitions as callers change and read it: whole repositories
//! applied, entities one at a time, and lookups that tell a missing definition from a missing
//! project. What a definition is, and how a repository is loaded and planned, is in
//! `definitions`; the tables are in `store`.

mod apply;
mod entities;
mod lookup;
pub mod paging;

use lathe_common::projects::ProjectCheck;

use crate::store::definitions::DefinitionStore;

/// The stored definitions, and the registry's word on whether a project exists.
#[derive(Clone)]
pub struct Catalog {
    store: DefinitionStore,
    projects: ProjectCheck,
}

impl Catalog {
    pub fn new(store: DefinitionStore, projects: ProjectCheck) -> Self {
        Catalog { store, projects }
    }

    pub fn store(&self) -> &DefinitionStore {
        &self.store
    }
}
