//! A worker: claims task instances, runs them, heartbeats their leases and records their
//! outcome. `lathe standalone` runs one in process; `lathe worker` runs one anywhere that
//! reaches the orchestrator's database and object store.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lathe_common::auth::{Role, Signer};
use lathe_common::{Error, Result};
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Map, Value as Json};
use tokio::sync::{Semaphore, watch};

use super::claims::{Claimed, Outcome};
use super::command::{self, CommandSpec, TryDir};
use super::logs::LogWriter;
use super::runs::{Runs, now_ms, rfc3339};
use super::states::TaskState;
use crate::definition::{Context, Pipeline, Task, TaskKind, Template};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Unique among the workers: recorded on the task instances it runs.
    pub id: String,
    /// Tasks this worker runs at once.
    pub slots: usize,
    /// A try is this worker's while it renews its lease within this time.
    pub lease: Duration,
    /// How often it renews (and notices a cancelled run).
    pub heartbeat: Duration,
    /// How long it waits between looks for work when no wake-up comes (workers in other
    /// processes, retries whose backoff ends).
    pub poll: Duration,
    /// Where tries keep their files (`outputs.json`, `artifacts/`).
    pub work_dir: PathBuf,
    /// Base of relative `working_dir`s of command tasks.
    pub task_root: PathBuf,
    /// Given to command tasks as `LATHE_URL`.
    pub gateway_url: String,
    /// Every command task's environment, under its own `env` and the `LATHE_*` variables.
    pub env: BTreeMap<String, String>,
}

pub struct Worker {
    pub runs: Runs,
    pub objects: Arc<dyn ObjectStore>,
    /// The URL `objects` was opened from: inputs may name objects by their location in it.
    pub objects_url: String,
    pub settings: WorkerSettings,
    /// Makes the short-lived token a command task gets as `LATHE_TOKEN`.
    pub signer: Option<Arc<Signer>>,
    /// What built-in tasks call.
    pub services: Option<super::builtin::Services>,
}

impl Worker {
    /// Claims and runs tasks until `shutdown` resolves; tries in progress then lose their
    /// lease and run again elsewhere.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let listening = self.runs.listen_for_queued();
        let _stop_listening = AbortOnDrop(listening);
        let slots = Arc::new(Semaphore::new(self.settings.slots.max(1)));
        loop {
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
                () = &mut shutdown => return,
            };
            let woken = self.runs.queued.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self
                .runs
                .claim(&self.settings.id, lease_ms(&self.settings), now_ms())
                .await
            {
                Ok(Some(claimed)) => {
                    let worker = self.clone();
                    tokio::spawn(async move {
                        worker.execute(claimed).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        () = woken => {}
                        () = tokio::time::sleep(self.settings.poll) => {}
                        () = &mut shutdown => return,
                    }
                }
                Err(err) => {
                    drop(permit);
                    tracing::warn!(error = %err, "cannot claim a task");
                    tokio::select! {
                        () = tokio::time::sleep(self.settings.poll.max(Duration::from_secs(1))) => {}
                        () = &mut shutdown => return,
                    }
                }
            }
        }
    }

    async fn execute(&self, claimed: Claimed) {
        let (stop, stopped) = watch::channel(false);
        let heartbeat = {
            let runs = self.runs.clone();
            let claimed = claimed.clone();
            let settings = self.settings.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(settings.heartbeat).await;
                    match runs.heartbeat(&claimed, lease_ms(&settings), now_ms()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            let _ = stop.send(true);
                            return;
                        }
                        Err(err) => tracing::warn!(error = %err, "heartbeat failed"),
                    }
                }
            })
        };
        let result = self.try_task(&claimed, stopped).await;
        heartbeat.abort();
        let (outcome, pipeline) = match result {
            Ok(done) => done,
            Err(err) => {
                tracing::warn!(run = %claimed.run_id, task = %claimed.task_id, error = %err, "task could not run");
                match self.pipeline_of(&claimed).await {
                    Ok(pipeline) => (Outcome::Failure(err.message.clone()), pipeline),
                    Err(_) => return,
                }
            }
        };
        if let Err(err) = self.runs.complete(&claimed, &outcome, &pipeline, now_ms()).await {
            tracing::warn!(run = %claimed.run_id, task = %claimed.task_id, error = %err, "cannot record a task's outcome");
        }
    }

    async fn pipeline_of(&self, claimed: &Claimed) -> Result<Arc<Pipeline>> {
        let run = self.runs.run_row(&claimed.project, &claimed.run_id).await?;
        self.runs
            .pipelines
            .version(&run.project, &run.pipeline, run.pipeline_version)
            .await
    }

    async fn try_task(
        &self,
        claimed: &Claimed,
        stopped: watch::Receiver<bool>,
    ) -> Result<(Outcome, Arc<Pipeline>)> {
        let run = self.runs.run_row(&claimed.project, &claimed.run_id).await?;
        let pipeline = self
            .runs
            .pipelines
            .version(&run.project, &run.pipeline, run.pipeline_version)
            .await?;
        let task = pipeline
            .tasks
            .iter()
            .find(|t| t.id == claimed.task_id)
            .ok_or_else(|| Error::internal(format!("task '{}' is not in its pipeline", claimed.task_id)))?;
        let mut context = Context {
            params: serde_json::from_str(&run.params).unwrap_or_default(),
            outputs: BTreeMap::new(),
            run_id: run.id.clone(),
            logical_date: rfc3339(run.logical_date),
        };
        for instance in self.runs.tasks(&run.id).await? {
            if TaskState::parse(&instance.state) == TaskState::Success {
                let outputs: Map<String, Json> = serde_json::from_str(&instance.outputs).unwrap_or_default();
                context.outputs.insert(instance.task_id, outputs);
            }
        }
        let mut log = LogWriter::new(
            self.runs.pipelines.db().clone(),
            &run.id,
            &task.id,
            claimed.try_number,
        );
        let outcome = match &task.kind {
            TaskKind::Command(spec) => match self.command_spec(spec, task, &context) {
                Ok(spec) => {
                    let dir = TryDir {
                        root: self
                            .settings
                            .work_dir
                            .join(&run.id)
                            .join(&task.id)
                            .join(claimed.try_number.to_string()),
                    };
                    let mut env = self.task_env(claimed, &run.pipeline, &context, task);
                    let outcome = match self.fetch_inputs(&spec.inputs, &dir, &mut log).await {
                        Ok(inputs) => {
                            env.extend(inputs);
                            command::run(&spec, &env, &dir, &mut log, stopped).await
                        }
                        Err(message) => Outcome::Failure(message),
                    };
                    self.keep_artifacts(claimed, &dir).await;
                    let _ = tokio::fs::remove_dir_all(&dir.root).await;
                    outcome
                }
                Err(message) => Outcome::Failure(message),
            },
            TaskKind::FeaturesHistorical(_)
            | TaskKind::FeaturesMaterialize(_)
            | TaskKind::RegistryRegister(_)
            | TaskKind::RegistryPromote(_)
            | TaskKind::RegistrySetAlias(_)
            | TaskKind::MonitorSetReference(_)
            | TaskKind::MonitorCheck(_) => {
                super::builtin::run(&task.kind, &pipeline, &context, claimed, self.services.as_ref()).await
            }
        };
        let summary = match &outcome {
            Outcome::Success(_) => format!("[lathe] try {} succeeded\n", claimed.try_number),
            Outcome::Failure(message) => format!("[lathe] try {} failed: {message}\n", claimed.try_number),
        };
        log.write(summary.as_bytes()).await?;
        log.finish(&self.objects).await?;
        Ok((outcome, pipeline))
    }

    fn command_spec(
        &self,
        spec: &crate::definition::Command,
        task: &Task,
        context: &Context,
    ) -> std::result::Result<CommandSpec, String> {
        let render = |t: &Template| {
            t.render(context)
                .map_err(|e| format!("cannot render `{}`: {e}", t.source))
        };
        let argv = spec
            .argv
            .iter()
            .map(render)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let env = spec
            .env
            .iter()
            .map(|(k, v)| render(v).map(|v| (k.clone(), v)))
            .collect::<std::result::Result<BTreeMap<_, _>, _>>()?;
        let inputs = spec
            .inputs
            .iter()
            .map(|(k, v)| render(v).map(|v| (k.clone(), v)))
            .collect::<std::result::Result<BTreeMap<_, _>, _>>()?;
        let working_dir = spec
            .working_dir
            .as_ref()
            .map(render)
            .transpose()?
            .map(|dir| self.settings.task_root.join(dir));
        Ok(CommandSpec {
            argv,
            env,
            working_dir,
            inputs,
            timeout: task.timeout,
        })
    }

    /// Fetches a command's inputs into the try's directory, noting each in the log; the
    /// `LATHE_INPUT_*` variables naming them.
    async fn fetch_inputs(
        &self,
        inputs: &BTreeMap<String, String>,
        dir: &TryDir,
        log: &mut LogWriter,
    ) -> std::result::Result<BTreeMap<String, String>, String> {
        let fetched =
            super::inputs::fetch_all(self.objects.as_ref(), &self.objects_url, inputs, &dir.inputs()).await?;
        for (variable, path) in &fetched {
            let note = format!("[lathe] input ${variable}: {path}\n");
            if let Err(err) = log.write(note.as_bytes()).await {
                tracing::warn!(error = %err, "cannot write a task log chunk");
            }
        }
        Ok(fetched)
    }

    /// What a command task finds in its environment besides its own `env`.
    fn task_env(
        &self,
        claimed: &Claimed,
        pipeline: &str,
        context: &Context,
        task: &Task,
    ) -> BTreeMap<String, String> {
        let mut env = self.settings.env.clone();
        env.extend([
            ("LATHE_PROJECT".to_owned(), claimed.project.clone()),
            ("LATHE_PIPELINE".to_owned(), pipeline.to_owned()),
            ("LATHE_RUN_ID".to_owned(), claimed.run_id.clone()),
            ("LATHE_TASK_ID".to_owned(), claimed.task_id.clone()),
            ("LATHE_TRY_NUMBER".to_owned(), claimed.try_number.to_string()),
            ("LATHE_LOGICAL_DATE".to_owned(), context.logical_date.clone()),
            ("LATHE_URL".to_owned(), self.settings.gateway_url.clone()),
        ]);
        if let Some(signer) = &self.signer {
            // Short-lived: the task's timeout (or an hour) and a few minutes more.
            let ttl = task.timeout.unwrap_or(Duration::from_secs(3600)) + Duration::from_secs(300);
            let subject = format!("pipeline-run:{}", claimed.run_id);
            match signer.sign(
                &subject,
                &[Role::Editor],
                std::slice::from_ref(&claimed.project),
                ttl,
            ) {
                Ok(token) => {
                    env.insert("LATHE_TOKEN".to_owned(), token);
                }
                Err(err) => tracing::warn!(error = %err, "cannot make a task token"),
            }
        }
        env
    }

    /// Uploads what the try left in `$LATHE_ARTIFACTS_DIR` to `runs/{run}/{task}/artifacts/`.
    async fn keep_artifacts(&self, claimed: &Claimed, dir: &TryDir) {
        let root = dir.artifacts();
        let mut pending = vec![root.clone()];
        while let Some(folder) = pending.pop() {
            let Ok(mut entries) = tokio::fs::read_dir(&folder).await else {
                continue;
            };
            while let Ok(Some(entry)) = entries.next_entry().await {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let Ok(relative) = path.strip_prefix(&root) else {
                    continue;
                };
                let key = format!(
                    "runs/{}/{}/artifacts/{}",
                    claimed.run_id,
                    claimed.task_id,
                    relative.to_string_lossy()
                );
                match tokio::fs::read(&path).await {
                    Ok(bytes) => {
                        if let Err(err) = self
                            .objects
                            .put(&object_store::path::Path::from(key), bytes.into())
                            .await
                        {
                            tracing::warn!(error = %err, "cannot upload a task artifact");
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot read a task artifact"),
                }
            }
        }
    }
}

struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

fn lease_ms(settings: &WorkerSettings) -> i64 {
    i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX / 4)
}
