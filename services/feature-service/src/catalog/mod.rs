//! The catalog of a project's definitions as callers change and read it: whole repositories
//! applied, entities one at a time, and lookups that tell a missing definition from a missing
//! project. What a definition is, and how a repository is loaded and planned, is in
//! `definitions`; the tables are in `store`.

pub mod apply;
pub mod entities;
pub mod lookup;
