//! Pipeline definitions: every applied version is kept (runs name the version they ran), and
//! a head row per pipeline points at the current one. A version's YAML is parsed once and
//! cached, since runs read it at every step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lathe_common::{Error, Result, db, reasons};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_yaml::Value;

use super::tables::{pipeline, pipeline_version};
use crate::definition::{Pipeline, Problem, Problems, parse_files};
use lathe_common::paging;

/// What applying did (or would do) to one pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub action: Action,
    pub version: i64,
    pub file: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Unchanged,
    Create,
    Update,
}

/// A pipeline's current version with its parsed definition.
#[derive(Debug, Clone)]
pub struct Current {
    pub head: pipeline::Model,
    pub version: pipeline_version::Model,
    pub pipeline: Arc<Pipeline>,
}

type Key = (String, String, i64);

#[derive(Clone)]
pub struct Pipelines {
    db: DatabaseConnection,
    parsed: Arc<Mutex<HashMap<Key, Arc<Pipeline>>>>,
}

impl Pipelines {
    pub fn new(db: DatabaseConnection) -> Pipelines {
        Pipelines {
            db,
            parsed: Arc::default(),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Checks every file and applies (unless `dry_run`) each pipeline whose definition
    /// changed as a new version. Nothing is applied when any definition has a problem.
    pub async fn apply(
        &self,
        project: &str,
        files: &[(String, String)],
        dry_run: bool,
        actor: &str,
        now: i64,
    ) -> Result<Vec<Change>> {
        let parsed = parse_files(files.iter().map(|(f, t)| (f.as_str(), t.as_str())))
            .map_err(|problems| Error::of(reasons::INVALID_PIPELINE, problems.to_string()))?;
        let sources = documents_by_pipeline(files)?;
        db::retry_conflicts(|| async {
            let txn = db::begin_write(&self.db).await?;
            let mut changes = Vec::new();
            for definition in &parsed {
                let (file, source) = sources.get(&definition.name).cloned().ok_or_else(|| {
                    Error::internal(format!(
                        "pipeline '{}' parsed but not found again",
                        definition.name
                    ))
                })?;
                let head = pipeline::Entity::find_by_id((project.to_owned(), definition.name.clone()))
                    .one(&txn)
                    .await?;
                let current_source = match &head {
                    Some(head) => pipeline_version::Entity::find_by_id((
                        project.to_owned(),
                        definition.name.clone(),
                        head.version,
                    ))
                    .one(&txn)
                    .await?
                    .map(|v| v.source),
                    None => None,
                };
                let (action, version) = match (&head, current_source) {
                    (Some(head), Some(current)) if current == source => (Action::Unchanged, head.version),
                    (Some(head), _) => (Action::Update, head.version + 1),
                    (None, _) => (
                        Action::Create,
                        latest_version(&txn, project, &definition.name).await? + 1,
                    ),
                };
                changes.push(Change {
                    name: definition.name.clone(),
                    action,
                    version,
                    file: file.clone(),
                });
                if dry_run || action == Action::Unchanged {
                    continue;
                }
                pipeline_version::ActiveModel {
                    project: Set(project.to_owned()),
                    name: Set(definition.name.clone()),
                    version: Set(version),
                    source: Set(source),
                    file: Set(file),
                    actor: Set(actor.to_owned()),
                    create_time: Set(now),
                }
                .insert(&txn)
                .await?;
                let next_fire_time = definition
                    .schedule
                    .as_ref()
                    .and_then(|s| crate::engine::schedule::next_fire(s, now));
                match head {
                    Some(head) => {
                        // A fire already due is kept for the sweeper; otherwise the schedule
                        // (perhaps changed) counts from now.
                        let keep_schedule = definition.schedule.is_some()
                            && head.next_fire_time.is_some_and(|due| due <= now);
                        let mut head = head.into_active_model();
                        head.version = Set(version);
                        head.update_time = Set(now);
                        if !keep_schedule {
                            head.next_fire_time = Set(next_fire_time);
                        }
                        head.update(&txn).await?;
                    }
                    None => {
                        pipeline::ActiveModel {
                            project: Set(project.to_owned()),
                            name: Set(definition.name.clone()),
                            version: Set(version),
                            next_fire_time: Set(next_fire_time),
                            last_alert_time: Set(None),
                            create_time: Set(now),
                            update_time: Set(now),
                        }
                        .insert(&txn)
                        .await?;
                    }
                }
            }
            if !dry_run {
                txn.commit().await?;
            }
            Ok(changes)
        })
        .await
    }

    pub async fn current(&self, project: &str, name: &str) -> Result<Option<Current>> {
        let Some(head) = pipeline::Entity::find_by_id((project.to_owned(), name.to_owned()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let version = self.version_row(project, name, head.version).await?;
        let pipeline = self.parse(&version)?;
        Ok(Some(Current {
            head,
            version,
            pipeline,
        }))
    }

    /// Every pipeline of the project, by name (for the scheduler, which needs them all).
    pub async fn list(&self, project: &str) -> Result<Vec<Current>> {
        let heads = pipeline::Entity::find()
            .filter(pipeline::Column::Project.eq(project))
            .order_by_asc(pipeline::Column::Name)
            .all(&self.db)
            .await?;
        self.currents(project, heads).await
    }

    /// One page of the project's pipelines by name, and the token of the next page (empty on
    /// the last). A page starts strictly after the last name of the page before (a keyset, not
    /// an offset), so pages neither overlap nor skip while pipelines come and go.
    pub async fn page(
        &self,
        project: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Current>, String)> {
        let size = paging::page_size(page_size)?;
        let mut select = pipeline::Entity::find().filter(pipeline::Column::Project.eq(project));
        if let Some(after) = paging::decode_token(page_token)? {
            select = select.filter(pipeline::Column::Name.gt(after));
        }
        let mut heads = select
            .order_by_asc(pipeline::Column::Name)
            .limit(size + 1)
            .all(&self.db)
            .await?;
        let next = paging::finish_page(&mut heads, size, |head| head.name.clone());
        Ok((self.currents(project, heads).await?, next))
    }

    /// The heads with their current versions, parsed.
    async fn currents(&self, project: &str, heads: Vec<pipeline::Model>) -> Result<Vec<Current>> {
        let mut all = Vec::with_capacity(heads.len());
        for head in heads {
            let version = self.version_row(project, &head.name, head.version).await?;
            let pipeline = self.parse(&version)?;
            all.push(Current {
                head,
                version,
                pipeline,
            });
        }
        Ok(all)
    }

    /// The parsed definition of one version.
    pub async fn version(&self, project: &str, name: &str, version: i64) -> Result<Arc<Pipeline>> {
        let key = (project.to_owned(), name.to_owned(), version);
        if let Some(found) = self.cached(&key) {
            return Ok(found);
        }
        let row = self.version_row(project, name, version).await?;
        self.parse(&row)
    }

    /// Deletes the pipeline's head; its versions stay for the runs that name them.
    pub async fn delete(&self, project: &str, name: &str) -> Result<bool> {
        let deleted = pipeline::Entity::delete_by_id((project.to_owned(), name.to_owned()))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    async fn version_row(&self, project: &str, name: &str, version: i64) -> Result<pipeline_version::Model> {
        pipeline_version::Entity::find_by_id((project.to_owned(), name.to_owned(), version))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::internal(format!("pipeline '{name}' has no version {version}")))
    }

    fn cached(&self, key: &Key) -> Option<Arc<Pipeline>> {
        self.parsed.lock().ok()?.get(key).cloned()
    }

    fn parse(&self, row: &pipeline_version::Model) -> Result<Arc<Pipeline>> {
        let key = (row.project.clone(), row.name.clone(), row.version);
        if let Some(found) = self.cached(&key) {
            return Ok(found);
        }
        let mut parsed = parse_files([(row.file.as_str(), row.source.as_str())]).map_err(|problems| {
            Error::internal(format!(
                "stored pipeline '{}' no longer parses: {problems}",
                row.name
            ))
        })?;
        let pipeline = Arc::new(
            parsed
                .pop()
                .ok_or_else(|| Error::internal("a stored pipeline is empty"))?,
        );
        if let Ok(mut cache) = self.parsed.lock() {
            cache.insert(key, pipeline.clone());
        }
        Ok(pipeline)
    }
}

async fn latest_version(txn: &impl sea_orm::ConnectionTrait, project: &str, name: &str) -> Result<i64> {
    // A pipeline deleted and applied again continues its version numbers.
    Ok(pipeline_version::Entity::find()
        .filter(pipeline_version::Column::Project.eq(project))
        .filter(pipeline_version::Column::Name.eq(name))
        .order_by_desc(pipeline_version::Column::Version)
        .one(txn)
        .await?
        .map_or(0, |v| v.version))
}

/// Each pipeline's own YAML document, written out again on its own (comments and layout are
/// not kept), with the file it came from: what a version stores and what changes compare.
fn documents_by_pipeline(files: &[(String, String)]) -> Result<HashMap<String, (String, String)>> {
    let mut found = HashMap::new();
    for (file, text) in files {
        for document in serde_yaml::Deserializer::from_str(text) {
            let value = <Value as serde::Deserialize>::deserialize(document).map_err(|e| {
                Error::of(
                    reasons::INVALID_PIPELINE,
                    Problems(vec![Problem {
                        file: file.clone(),
                        document: None,
                        path: String::new(),
                        reason: format!("not valid YAML: {e}"),
                    }])
                    .to_string(),
                )
            })?;
            let pipelines = match value.get("pipelines") {
                Some(Value::Sequence(list)) => list.clone(),
                Some(_) | None if value.is_mapping() => vec![value],
                Some(_) | None => Vec::new(),
            };
            for pipeline in pipelines {
                let Some(name) = pipeline.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let source = serde_yaml::to_string(&pipeline)
                    .map_err(|e| Error::internal(format!("cannot write pipeline '{name}' back: {e}")))?;
                found.insert(name.to_owned(), (file.clone(), source));
            }
        }
    }
    Ok(found)
}
