//! Deployments: what each one is (its `DeployRequest`, stored) and what it serves now (loaded
//! versions, in memory). A deploy loads the alias's version before it answers, so a version
//! that cannot be served is refused then. A watcher asks the registry where each alias points
//! every `alias_poll_ms`; when an alias moves, the new version is loaded and warmed while the
//! old one keeps answering, then swapped in with one pointer store: no request fails or waits
//! during the switch. If the new version cannot be loaded, the old one keeps serving and the
//! deployment says why (`last_error`). Every replica reads the same table, so deployments
//! made through one are served by all, and a restart serves again what was deployed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lathe_common::auth::{Role, Signer};
use lathe_common::definitions::{Definitions, Stored};
use lathe_common::{Error, ErrorCode, Result, validate};
use lathe_contract::serving::v1 as pb;
use sea_orm::DatabaseConnection;

use crate::loading::{Loaded, Registry};
use crate::prediction_counters::{self, DeploymentCounters};
use crate::store::{DEPLOYMENTS_TABLE, deployment_pages};
use lathe_common::paging;

/// The alias a deployment follows when none is named.
pub const DEFAULT_ALIAS: &str = "champion";
/// Subject of the tokens the watcher signs to read the registry.
pub const SUBJECT: &str = "service:serving";
const TOKEN_TTL: Duration = Duration::from_secs(300);

/// One deployment in memory.
pub struct Live {
    pub spec: pb::DeployRequest,
    pub create_time: chrono::DateTime<chrono::Utc>,
    pub update_time: chrono::DateTime<chrono::Utc>,
    champion: RwLock<Option<Arc<Loaded>>>,
    challenger: RwLock<Option<Arc<Loaded>>>,
    last_error: RwLock<String>,
    /// The predictions made here, by role, since this `Live` was made.
    pub counters: DeploymentCounters,
}

impl Live {
    fn new(stored: Stored<pb::DeployRequest>) -> Live {
        Live {
            spec: stored.spec,
            create_time: stored.create_time,
            update_time: stored.update_time,
            champion: RwLock::new(None),
            challenger: RwLock::new(None),
            last_error: RwLock::new(String::new()),
            counters: DeploymentCounters::new(prediction_counters::now_seconds()),
        }
    }

    /// The version answering now.
    pub fn champion(&self) -> Option<Arc<Loaded>> {
        self.champion.read().expect("lock").clone()
    }

    pub fn challenger(&self) -> Option<Arc<Loaded>> {
        self.challenger.read().expect("lock").clone()
    }

    fn set(slot: &RwLock<Option<Arc<Loaded>>>, loaded: Option<Arc<Loaded>>) {
        *slot.write().expect("lock") = loaded;
    }

    fn set_error(&self, error: String) {
        *self.last_error.write().expect("lock") = error;
    }

    pub fn to_proto(&self) -> pb::Deployment {
        let served = |loaded: Option<Arc<Loaded>>| {
            loaded.map(|l| pb::ServedVersion {
                version: l.version,
                inputs: l.inputs.clone(),
                classes: l.classes.clone(),
                loaded_time: Some(validate::timestamp(l.loaded_time)),
            })
        };
        let spec = &self.spec;
        let (champion, challenger) = (self.champion(), self.challenger());
        let stats = champion.as_ref().map(|c| {
            self.counters.stats(
                c.version,
                challenger.as_ref().map(|c| c.version),
                prediction_counters::now_seconds(),
            )
        });
        pb::Deployment {
            project: spec.project.clone(),
            name: spec.name.clone(),
            model: spec.model.clone(),
            alias: spec.alias.clone(),
            challenger: spec.challenger.clone(),
            monitor: spec.monitor.clone(),
            sample_rate: spec.sample_rate,
            serving: served(champion),
            challenger_serving: served(challenger),
            last_error: self.last_error.read().expect("lock").clone(),
            create_time: Some(validate::timestamp(self.create_time)),
            update_time: Some(validate::timestamp(self.update_time)),
            stats,
        }
    }
}

type Key = (String, String);

#[derive(Clone)]
pub struct Deployments {
    definitions: Definitions<pb::DeployRequest>,
    /// The definitions' database, read a page at a time by `list`.
    db: DatabaseConnection,
    registry: Registry,
    signer: Option<Arc<Signer>>,
    live: Arc<RwLock<HashMap<Key, Arc<Live>>>>,
}

impl Deployments {
    pub fn new(db: DatabaseConnection, registry: Registry, signer: Option<Arc<Signer>>) -> Deployments {
        Deployments {
            definitions: Definitions::new(db.clone(), DEPLOYMENTS_TABLE),
            db,
            registry,
            signer,
            live: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// The deployment as it serves now.
    pub fn live(&self, project: &str, name: &str) -> Result<Arc<Live>> {
        let live = self.live.read().expect("lock");
        live.get(&(project.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| not_found(project, name))
    }

    /// Creates or replaces a deployment once its versions are loaded; the caller's token
    /// reads the registry.
    pub async fn deploy(&self, request: pb::DeployRequest) -> Result<pb::Deployment> {
        let spec = normalized(request)?;
        let champion = self.load_alias(&spec, &spec.alias, None).await?;
        let challenger = match &spec.challenger {
            Some(c) => Some(self.load_alias(&spec, &c.alias, None).await?),
            None => None,
        };
        let stored = self.definitions.put(&spec.project, &spec.name, &spec).await?;
        let live = Arc::new(Live::new(stored));
        Live::set(&live.champion, Some(champion));
        Live::set(&live.challenger, challenger);
        self.live
            .write()
            .expect("lock")
            .insert((spec.project.clone(), spec.name.clone()), live.clone());
        tracing::info!(project = %spec.project, deployment = %spec.name, model = %spec.model, "deployed");
        Ok(live.to_proto())
    }

    pub async fn get(&self, project: &str, name: &str) -> Result<pb::Deployment> {
        match self.live(project, name) {
            Ok(live) => Ok(live.to_proto()),
            // Made by another replica a moment ago: read it from the table.
            Err(err) => match self.definitions.get(project, name).await? {
                Some(stored) => Ok(Live::new(stored).to_proto()),
                None => Err(err),
            },
        }
    }

    /// One page of the project's deployments by name, each as it serves here now (with its
    /// stats), and the token of the next page (empty on the last).
    pub async fn list(
        &self,
        project: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<pb::Deployment>, String)> {
        let limit = paging::page_size(page_size)?;
        let after = paging::decode_token(page_token)?;
        let mut stored = deployment_pages::page(&self.db, project, after.as_deref(), limit + 1).await?;
        let next_page_token = paging::finish_page(&mut stored, limit, |s| s.spec.name.clone());
        let deployments = stored
            .into_iter()
            .map(|s| match self.live(project, &s.spec.name) {
                Ok(live) => live.to_proto(),
                Err(_) => Live::new(s).to_proto(),
            })
            .collect();
        Ok((deployments, next_page_token))
    }

    /// How many deployments the project has; with `delete`, removes them all (and stops
    /// serving them here at once; other replicas drop them at their next refresh).
    pub async fn project_data(&self, project: &str, delete: bool) -> Result<u64> {
        let n = self
            .definitions
            .project_data(project, delete, "deployments")
            .await?;
        if delete {
            self.live.write().expect("lock").retain(|(p, _), _| p != project);
        }
        Ok(n)
    }

    pub async fn undeploy(&self, project: &str, name: &str) -> Result<()> {
        if !self.definitions.delete(project, name).await? {
            return Err(not_found(project, name));
        }
        self.live
            .write()
            .expect("lock")
            .remove(&(project.to_owned(), name.to_owned()));
        tracing::info!(project, deployment = name, "undeployed");
        Ok(())
    }

    async fn load_alias(
        &self,
        spec: &pb::DeployRequest,
        alias: &str,
        token: Option<&str>,
    ) -> Result<Arc<Loaded>> {
        let version = self
            .registry
            .version_of(&spec.project, &spec.model, alias, token)
            .await?;
        self.registry.load(&version, token).await
    }

    /// Follows the aliases until `shutdown` resolves: every `every`, the table is read (new
    /// deployments of other replicas are loaded, removed ones dropped) and each alias checked.
    pub async fn watch(self, every: Duration, shutdown: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                _ = tick.tick() => self.refresh().await,
                () = &mut shutdown => return,
            }
        }
    }

    /// One pass of the watcher.
    pub async fn refresh(&self) {
        let started = chrono::Utc::now();
        let stored = match self.definitions.list_all().await {
            Ok(stored) => stored,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the deployments");
                return;
            }
        };
        let mut listed = std::collections::HashSet::new();
        for s in stored {
            let key = (s.spec.project.clone(), s.spec.name.clone());
            let known = self.live.read().expect("lock").get(&key).cloned();
            let live = match known {
                Some(live) if live.spec == s.spec || live.update_time > s.update_time => live,
                _ => {
                    let live = Arc::new(Live::new(s));
                    self.live.write().expect("lock").insert(key.clone(), live.clone());
                    live
                }
            };
            self.follow(&live).await;
            listed.insert(key);
        }
        // Gone from the table; a deployment made after the table was read is kept.
        self.live
            .write()
            .expect("lock")
            .retain(|key, live| listed.contains(key) || live.update_time >= started);
    }

    /// Loads what the deployment's aliases point at, when that is not what it serves.
    async fn follow(&self, live: &Live) {
        let spec = &live.spec;
        let token = match self.token(&spec.project) {
            Ok(token) => token,
            Err(err) => return live.set_error(err.public_message().to_owned()),
        };
        let mut errors = Vec::new();
        let slots = [
            (Some(spec.alias.as_str()), &live.champion),
            (
                spec.challenger.as_ref().map(|c| c.alias.as_str()),
                &live.challenger,
            ),
        ];
        for (alias, slot) in slots {
            let Some(alias) = alias else { continue };
            let served = slot.read().expect("lock").as_ref().map(|l| l.version);
            let result = async {
                let version = self
                    .registry
                    .version_of(&spec.project, &spec.model, alias, Some(&token))
                    .await?;
                if served == Some(version.version) {
                    return Ok(());
                }
                let loaded = self.registry.load(&version, Some(&token)).await?;
                tracing::info!(
                    project = %spec.project,
                    deployment = %spec.name,
                    alias,
                    from = ?served,
                    to = loaded.version,
                    "alias moved: serving the new version"
                );
                Live::set(slot, Some(loaded));
                Ok::<(), Error>(())
            }
            .await;
            if let Err(err) = result {
                errors.push(format!("alias '{alias}': {}", err.public_message()));
            }
        }
        live.set_error(errors.join("; "));
    }

    fn token(&self, project: &str) -> Result<String> {
        let signer = self
            .signer
            .as_ref()
            .ok_or_else(|| Error::internal("serving has no key to sign its registry calls with"))?;
        signer
            .sign(SUBJECT, &[Role::Viewer], &[project.to_owned()], TOKEN_TTL)
            .map_err(|err| Error::internal(format!("cannot sign a token: {err}")))
    }
}

/// The request with its defaults filled in, checked.
fn normalized(mut request: pb::DeployRequest) -> Result<pb::DeployRequest> {
    validate::project_name("project", &request.project)?;
    if request.model.is_empty() {
        return Err(Error::invalid("model: name the registered model to deploy"));
    }
    if request.name.is_empty() {
        request.name.clone_from(&request.model);
    }
    validate::visible("name", &request.name)?;
    if request.name.contains('/') {
        return Err(Error::invalid(format!(
            "name '{}': a deployment name is used in URLs and cannot contain '/'",
            request.name
        )));
    }
    if request.alias.is_empty() {
        request.alias = DEFAULT_ALIAS.to_owned();
    }
    if let Some(challenger) = &request.challenger {
        let mode = pb::ChallengerMode::try_from(challenger.mode).unwrap_or(pb::ChallengerMode::Unspecified);
        match mode {
            pb::ChallengerMode::Canary if !(1..=99).contains(&challenger.traffic_percent) => {
                return Err(Error::invalid(format!(
                    "challenger.traffic_percent {}: a canary takes 1 to 99 percent of the requests",
                    challenger.traffic_percent
                )));
            }
            pb::ChallengerMode::Unspecified => {
                return Err(Error::invalid("challenger.mode: use canary or shadow"));
            }
            pb::ChallengerMode::Canary | pb::ChallengerMode::Shadow => {}
        }
        if challenger.alias.is_empty() || challenger.alias == request.alias {
            return Err(Error::invalid(
                "challenger.alias: name another alias of the model than the deployment's own",
            ));
        }
    }
    if !(0.0..=1.0).contains(&request.sample_rate) || request.sample_rate.is_nan() {
        return Err(Error::invalid(format!(
            "sample_rate {}: the share of predictions logged is between 0 and 1",
            request.sample_rate
        )));
    }
    if !request.monitor.is_empty() && request.sample_rate == 0.0 {
        request.sample_rate = 1.0;
    }
    Ok(request)
}

fn not_found(project: &str, name: &str) -> Error {
    Error::new(
        ErrorCode::NotFound,
        format!("deployment '{name}' does not exist in project '{project}'"),
    )
}
