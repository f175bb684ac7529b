//! Stored definitions: the current version of each (project, kind, name) and the full
//! history of versions, changed together in one transaction per apply.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use lathe_common::{Error, Result};
use sea_orm::entity::prelude::*;
use sea_orm::{Condition, DatabaseConnection, QueryOrder, QuerySelect, Set};

use super::materializations::{materialized, runs};
use crate::catalog::paging::DefinitionKey;
use crate::definitions::model::{FEATURE_VIEW, Spec, StoredDefinition};
use crate::definitions::plan::{Action, Change};

/// `features_definitions`: the current version of each definition.
pub mod current {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "features_definitions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub version: i64,
        /// Canonical JSON of the spec.
        pub spec: String,
        pub origin: String,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `features_definition_history`: every applied version, deletions included.
pub mod history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "features_definition_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project: String,
        pub kind: String,
        pub name: String,
        pub version: i64,
        /// `None` when this version deleted the definition.
        pub spec: Option<String>,
        pub actor: String,
        pub applied_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// How long serving may use a definition read earlier. Applies through this process clear
/// the cache at once; this bounds how late an apply through another replica is seen (Feast's
/// feature server does the same with its registry `cache_ttl_seconds`).
pub const CACHE_TTL: Duration = Duration::from_secs(2);

/// From this age on, a read answered from the cache also starts a reload in the background,
/// so that under steady traffic no request waits for the database.
const REFRESH_AFTER: Duration = Duration::from_secs(1);

type CacheKey = (String, &'static str, String);

/// What was read (`None`: no such definition), and when the read started.
struct Cached {
    read: Instant,
    stored: Option<Arc<StoredDefinition>>,
    reloading: AtomicBool,
}

#[derive(Default)]
struct Recent {
    entries: HashMap<CacheKey, Cached>,
    /// Bumped by every apply; a read that started before it must not be cached.
    generation: u64,
}

#[derive(Clone)]
pub struct DefinitionStore {
    db: DatabaseConnection,
    recent: Arc<RwLock<Recent>>,
}

impl DefinitionStore {
    pub fn new(db: DatabaseConnection) -> Self {
        DefinitionStore {
            db,
            recent: Arc::default(),
        }
    }

    /// Like [`DefinitionStore::get`], but may answer from what was read up to [`CACHE_TTL`]
    /// ago: for serving paths, where a database round trip per request would dominate.
    pub async fn get_recent(
        &self,
        project: &str,
        kind: &'static str,
        name: &str,
    ) -> Result<Option<Arc<StoredDefinition>>> {
        let key = (project.to_owned(), kind, name.to_owned());
        if let Some(cached) = self.recent.read().expect("cache lock").entries.get(&key) {
            let age = cached.read.elapsed();
            if age < CACHE_TTL {
                if age >= REFRESH_AFTER && !cached.reloading.swap(true, Ordering::Relaxed) {
                    let this = self.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        if let Err(err) = this.load(key).await {
                            tracing::warn!(error = %err, "reloading a cached definition failed");
                        }
                    });
                }
                return Ok(cached.stored.clone());
            }
        }
        self.load(key).await
    }

    /// Reads a definition and caches it, unless an apply ran meanwhile.
    async fn load(&self, key: CacheKey) -> Result<Option<Arc<StoredDefinition>>> {
        let generation = self.recent.read().expect("cache lock").generation;
        let started = Instant::now();
        let (project, kind, name) = &key;
        let stored = self.get(project, kind, name).await?.map(Arc::new);
        let mut recent = self.recent.write().expect("cache lock");
        if recent.generation == generation {
            // Entries of deleted or renamed definitions would otherwise pile up.
            recent
                .entries
                .retain(|_, cached| cached.read.elapsed() < CACHE_TTL);
            let cached = Cached {
                read: started,
                stored: stored.clone(),
                reloading: AtomicBool::new(false),
            };
            recent.entries.insert(key, cached);
        }
        Ok(stored)
    }

    fn decode(row: current::Model) -> Result<StoredDefinition> {
        Ok(StoredDefinition {
            spec: Spec::from_json(&row.kind, &row.spec)?,
            version: u64::try_from(row.version).unwrap_or(0),
            origin: row.origin,
            create_time: row.create_time,
            update_time: row.update_time,
        })
    }

    /// Every definition of a project (optionally of one kind), by kind then name.
    pub async fn list(&self, project: &str, kind: Option<&str>) -> Result<Vec<StoredDefinition>> {
        let mut query = current::Entity::find()
            .filter(current::Column::Project.eq(project))
            .order_by_asc(current::Column::Kind)
            .order_by_asc(current::Column::Name);
        if let Some(kind) = kind {
            query = query.filter(current::Column::Kind.eq(kind));
        }
        query.all(&self.db).await?.into_iter().map(Self::decode).collect()
    }

    /// At most `limit` definitions of a project (optionally of one kind) that come after `after`
    /// by kind then name, in that order.
    pub async fn list_page(
        &self,
        project: &str,
        kind: Option<&str>,
        after: Option<&DefinitionKey>,
        limit: u64,
    ) -> Result<Vec<StoredDefinition>> {
        let mut query = current::Entity::find()
            .filter(current::Column::Project.eq(project))
            .order_by_asc(current::Column::Kind)
            .order_by_asc(current::Column::Name)
            .limit(limit);
        if let Some(kind) = kind {
            query = query.filter(current::Column::Kind.eq(kind));
        }
        if let Some(after) = after {
            query = query.filter(
                Condition::any().add(current::Column::Kind.gt(&after.kind)).add(
                    Condition::all()
                        .add(current::Column::Kind.eq(&after.kind))
                        .add(current::Column::Name.gt(&after.name)),
                ),
            );
        }
        query.all(&self.db).await?.into_iter().map(Self::decode).collect()
    }

    pub async fn get(&self, project: &str, kind: &str, name: &str) -> Result<Option<StoredDefinition>> {
        let row = current::Entity::find_by_id((project.to_owned(), kind.to_owned(), name.to_owned()))
            .one(&self.db)
            .await?;
        row.map(Self::decode).transpose()
    }

    /// At most `limit` versions of one definition newer than `after`, oldest first.
    pub async fn history_page(
        &self,
        project: &str,
        kind: &str,
        name: &str,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<history::Model>> {
        let mut query = history::Entity::find()
            .filter(history::Column::Project.eq(project))
            .filter(history::Column::Kind.eq(kind))
            .filter(history::Column::Name.eq(name))
            .order_by_asc(history::Column::Version)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(history::Column::Version.gt(after));
        }
        Ok(query.all(&self.db).await?)
    }

    /// How many definitions the project holds, of every kind.
    pub async fn count_project(&self, project: &str) -> Result<u64> {
        Ok(current::Entity::find()
            .filter(current::Column::Project.eq(project))
            .count(&self.db)
            .await?)
    }

    /// Names of the feature views the project has now or had materialized: the views that
    /// may have rows in the online store.
    pub async fn project_views(&self, project: &str) -> Result<Vec<String>> {
        let mut views: Vec<String> = current::Entity::find()
            .filter(current::Column::Project.eq(project))
            .filter(current::Column::Kind.eq(FEATURE_VIEW))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| row.name)
            .collect();
        views.extend(
            materialized::Entity::find()
                .filter(materialized::Column::Project.eq(project))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|row| row.view),
        );
        views.sort_unstable();
        views.dedup();
        Ok(views)
    }

    /// Deletes everything the project holds in the metadata database (definitions, their
    /// history, materialization state) in one transaction; returns how many definitions.
    pub async fn delete_project(&self, project: &str) -> Result<u64> {
        let txn = lathe_common::db::begin_write(&self.db).await?;
        let deleted = current::Entity::delete_many()
            .filter(current::Column::Project.eq(project))
            .exec(&txn)
            .await?
            .rows_affected;
        history::Entity::delete_many()
            .filter(history::Column::Project.eq(project))
            .exec(&txn)
            .await?;
        materialized::Entity::delete_many()
            .filter(materialized::Column::Project.eq(project))
            .exec(&txn)
            .await?;
        runs::Entity::delete_many()
            .filter(runs::Column::Project.eq(project))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        let mut recent = self.recent.write().expect("cache lock");
        recent.entries.clear();
        recent.generation += 1;
        Ok(deleted)
    }

    /// Applies planned changes atomically; each changed definition gets the next version.
    pub async fn apply(&self, project: &str, changes: &[Change], actor: &str) -> Result<()> {
        let txn = lathe_common::db::begin_write(&self.db).await?;
        let now = Utc::now();
        // Unchanged definitions cost nothing: a re-apply of the same repository reads and
        // writes no row.
        for change in changes.iter().filter(|c| !matches!(c.action, Action::Unchanged)) {
            let key = (project.to_owned(), change.kind.to_owned(), change.name.clone());
            let existing = current::Entity::find_by_id(key.clone()).one(&txn).await?;
            // The history's last version counts too, so a re-created definition never reuses a number.
            let last = history::Entity::find()
                .filter(history::Column::Project.eq(project))
                .filter(history::Column::Kind.eq(change.kind))
                .filter(history::Column::Name.eq(&change.name))
                .order_by_desc(history::Column::Version)
                .one(&txn)
                .await?
                .map_or(0, |h| h.version);
            let version = last.max(existing.as_ref().map_or(0, |e| e.version)) + 1;
            let spec_json = change.desired.as_ref().map(|d| d.spec.to_json().to_string());
            match (&change.action, &change.desired) {
                (Action::Unchanged, _) => continue,
                (Action::Create | Action::Update, Some(desired)) => {
                    let row = current::ActiveModel {
                        project: Set(project.to_owned()),
                        kind: Set(change.kind.to_owned()),
                        name: Set(change.name.clone()),
                        version: Set(version),
                        spec: Set(spec_json.clone().unwrap_or_default()),
                        origin: Set(desired.origin.clone()),
                        create_time: Set(existing.as_ref().map_or(now, |e| e.create_time)),
                        update_time: Set(now),
                    };
                    if existing.is_some() {
                        row.update(&txn).await?;
                    } else {
                        row.insert(&txn).await?;
                    }
                }
                (Action::Delete, _) => {
                    current::Entity::delete_by_id(key).exec(&txn).await?;
                }
                (Action::Create | Action::Update, None) => {
                    return Err(Error::internal("a create or update without a desired definition"));
                }
            }
            history::ActiveModel {
                project: Set(project.to_owned()),
                kind: Set(change.kind.to_owned()),
                name: Set(change.name.clone()),
                version: Set(version),
                spec: Set(spec_json),
                actor: Set(actor.to_owned()),
                applied_time: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
        txn.commit().await?;
        let mut recent = self.recent.write().expect("cache lock");
        recent.entries.clear();
        recent.generation += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use lathe_common::config::DatabaseSettings;
    use sea_orm_migration::MigratorTrait;

    use super::*;
    use crate::definitions::model::ENTITY;
    use crate::definitions::plan::plan;
    use crate::definitions::repository::load;

    /// A replica: its own connection (and cache) on the shared database.
    async fn replica(url: &str) -> DefinitionStore {
        let db = lathe_common::db::connect(url, &DatabaseSettings::default(), "test.database")
            .await
            .unwrap();
        crate::store::migration::Migrator::up(&db, None).await.unwrap();
        DefinitionStore::new(db)
    }

    /// Applies an entity `driver` whose description is `description`.
    async fn apply_driver(store: &DefinitionStore, description: &str) {
        let yaml = format!(
            "entities:\n  - name: driver\n    description: {description}\n    join_keys: [{{name: driver_id, type: int64}}]\n"
        );
        let repo = load("p", &[("features.yaml".into(), yaml)]).unwrap();
        let changes = plan(&repo, &store.list("p", None).await.unwrap()).unwrap();
        store.apply("p", &changes, "tester").await.unwrap();
    }

    async fn served_version(store: &DefinitionStore) -> u64 {
        store
            .get_recent("p", ENTITY, "driver")
            .await
            .unwrap()
            .unwrap()
            .version
    }

    #[tokio::test]
    async fn serving_sees_an_apply_of_another_replica_within_the_cache_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/features.db", dir.path().display());
        let (serving, other) = (replica(&url).await, replica(&url).await);
        apply_driver(&other, "one").await;
        assert_eq!(served_version(&serving).await, 1);

        // Within the first second the cached version answers, with no reload.
        apply_driver(&other, "two").await;
        assert_eq!(served_version(&serving).await, 1);

        // Past REFRESH_AFTER, a read still answers from the cache but reloads in the
        // background, so the new version arrives before the entry would expire.
        tokio::time::sleep(REFRESH_AFTER).await;
        assert_eq!(served_version(&serving).await, 1);
        let mut seen = 1;
        for _ in 0..100 {
            seen = served_version(&serving).await;
            if seen == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(seen, 2, "the background reload did not bring version 2");

        // An apply through the serving replica itself is seen at once.
        apply_driver(&serving, "three").await;
        assert_eq!(served_version(&serving).await, 3);
    }
}
