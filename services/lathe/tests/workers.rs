//! Workers as separate processes on PostgreSQL and the S3-compatible server, as a deployment
//! runs them: two `lathe worker`s never run one task instance at once; a worker killed with
//! SIGKILL mid-task loses its lease and the task runs again on the other; the orchestrator
//! killed mid-run and restarted finds the run completed, because workers need only the
//! database and the object store.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lathe_contract::orchestrator::v1 as pb;
use lathe_contract::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use lathe_testkit::{PgDatabase, S3Location};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

const LATHE: &str = env!("CARGO_BIN_EXE_lathe");
const PROJECT: &str = "work";

struct Deployment {
    data_dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    grpc_port: u16,
    http_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Deployment {
    fn new(pg: &PgDatabase, s3: &S3Location) -> Deployment {
        let settings = &s3.settings;
        let mut env: Vec<(String, String)> = vec![
            ("LATHE_TELEMETRY__LOG_FILTER".into(), "warn".into()),
            ("LATHE_ORCHESTRATOR__DATABASE__URL".into(), pg.url.clone()),
            ("LATHE_ORCHESTRATOR__OBJECT_STORE__URL".into(), s3.url.clone()),
            (
                "LATHE_ORCHESTRATOR__OBJECT_STORE__ENDPOINT".into(),
                settings.endpoint.clone().unwrap_or_default(),
            ),
            (
                "LATHE_ORCHESTRATOR__OBJECT_STORE__REGION".into(),
                "us-east-1".into(),
            ),
            (
                "LATHE_ORCHESTRATOR__OBJECT_STORE__ACCESS_KEY_ID".into(),
                settings.access_key_id.clone().unwrap_or_default(),
            ),
            (
                "LATHE_ORCHESTRATOR__OBJECT_STORE__SECRET_ACCESS_KEY".into(),
                settings
                    .secret_access_key
                    .as_ref()
                    .map(|s| s.expose().to_owned())
                    .unwrap_or_default(),
            ),
            (
                "LATHE_ORCHESTRATOR__OBJECT_STORE__ALLOW_HTTP".into(),
                "true".into(),
            ),
            ("LATHE_ORCHESTRATOR__WORKER__LEASE_MS".into(), "1500".into()),
            ("LATHE_ORCHESTRATOR__WORKER__HEARTBEAT_MS".into(), "200".into()),
            // Slow polls: wake-ups between processes come from PostgreSQL's LISTEN/NOTIFY.
            ("LATHE_ORCHESTRATOR__WORKER__POLL_MS".into(), "2000".into()),
            ("LATHE_ORCHESTRATOR__SWEEP_INTERVAL_MS".into(), "200".into()),
        ];
        for service in ["REGISTRY", "FEATURES", "MONITOR", "SERVING"] {
            env.push((format!("LATHE_{service}__GRPC_ADDR"), "127.0.0.1:0".into()));
        }
        let grpc_port = free_port();
        env.push((
            "LATHE_ORCHESTRATOR__GRPC_ADDR".into(),
            format!("127.0.0.1:{grpc_port}"),
        ));
        Deployment {
            data_dir: tempfile::tempdir().unwrap(),
            env,
            grpc_port,
            http_port: free_port(),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(LATHE);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.data_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        command
    }

    /// The platform with no worker of its own: the orchestrator only decides and sweeps.
    fn standalone(&self) -> Child {
        self.command()
            .env("LATHE_ORCHESTRATOR__WORKER__ENABLED", "false")
            .args(["standalone", "--data-dir"])
            .arg(self.data_dir.path())
            .args(["--http-addr", &format!("127.0.0.1:{}", self.http_port)])
            .spawn()
            .unwrap()
    }

    fn worker(&self, name: &str) -> Child {
        self.command()
            .args(["worker", "--name", name, "--data-dir"])
            .arg(self.data_dir.path())
            .spawn()
            .unwrap()
    }

    fn token(&self) -> String {
        let output = self
            .command()
            .stdout(Stdio::piped())
            .args([
                "token",
                "create",
                "--subject",
                "ops",
                "--role",
                "admin",
                "--data-dir",
            ])
            .arg(self.data_dir.path())
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// A deployment whose standalone is up and ready. Its ports are picked free but only taken
    /// when the standalone binds them, so another process may get there first: then the
    /// standalone exits at once, and the next attempt picks other ports.
    async fn started(pg: &PgDatabase, s3: &S3Location) -> (Deployment, Child) {
        for _ in 0..5 {
            let deployment = Deployment::new(pg, s3);
            let mut standalone = deployment.standalone();
            if deployment.ready_unless_exited(&mut standalone).await {
                return (deployment, standalone);
            }
        }
        panic!("lathe standalone could not bind its ports in five attempts");
    }

    /// Waits for the standalone to be ready; `false` when it exited first.
    async fn ready_unless_exited(&self, standalone: &mut Child) -> bool {
        let url = format!("http://127.0.0.1:{}/readyz", self.http_port);
        for _ in 0..300 {
            if standalone.try_wait().unwrap().is_some() {
                return false;
            }
            if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("lathe standalone never became ready");
    }

    async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}/readyz", self.http_port);
        for _ in 0..300 {
            if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("lathe standalone never became ready");
    }

    async fn create_project(&self, token: &str) {
        let response = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/api/v1/projects", self.http_port))
            .bearer_auth(token)
            .json(&serde_json::json!({"name": PROJECT}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{:?}", response.text().await);
    }

    async fn client(&self, token: &str) -> Client {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{}", self.grpc_port))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let bearer: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        OrchestratorServiceClient::with_interceptor(
            channel,
            Box::new(move |mut request: tonic::Request<()>| {
                request.metadata_mut().insert("authorization", bearer.clone());
                Ok(request)
            }) as Interceptor,
        )
    }
}

type Interceptor = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;
type Client =
    OrchestratorServiceClient<tonic::service::interceptor::InterceptedService<Channel, Interceptor>>;

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

async fn apply(client: &mut Client, yaml: &str) {
    client
        .apply_pipelines(pb::ApplyPipelinesRequest {
            project: PROJECT.into(),
            files: vec![pb::PipelineFile {
                path: "p.yaml".into(),
                content: yaml.into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn trigger(client: &mut Client, pipeline: &str, dir: &Path) -> String {
    client
        .trigger_run(pb::TriggerRunRequest {
            project: PROJECT.into(),
            pipeline: pipeline.into(),
            params: [("dir".to_owned(), dir.to_string_lossy().into_owned())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .run_id
}

async fn get_run(client: &mut Client, run_id: &str) -> pb::PipelineRun {
    client
        .get_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn wait_for(
    client: &mut Client,
    run_id: &str,
    done: impl Fn(&pb::PipelineRun) -> bool,
) -> pb::PipelineRun {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let run = get_run(client, run_id).await;
        if done(&run) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "run {run_id} never got there: {:#?}",
        get_run(client, run_id).await
    );
}

fn ended(run: &pb::PipelineRun) -> bool {
    matches!(
        run.state(),
        pb::RunState::Success | pb::RunState::Failed | pb::RunState::Cancelled
    )
}

const FANOUT: &str = r#"
name: fanout
params: [{name: dir, type: string}]
tasks:
"#;

const KILLED: &str = r#"
name: killed
params: [{name: dir, type: string}]
tasks:
  - id: slow
    kind: command
    retries: {count: 1, delay: 10ms}
    argv: [sh, -c, 'echo "$LATHE_TRY_NUMBER" > {{ params.dir }}/started; [ "$LATHE_TRY_NUMBER" -ge 2 ] || sleep 30']
"#;

const CHAIN: &str = r#"
name: chain
params: [{name: dir, type: string}]
tasks:
  - {id: one, kind: command, argv: [sh, -c, 'sleep 1']}
  - {id: two, kind: command, depends_on: [one], argv: [sh, -c, 'touch {{ params.dir }}/two; sleep 2']}
  - {id: three, kind: command, depends_on: [two], argv: [sh, -c, 'sleep 1']}
"#;

#[tokio::test]
async fn workers_in_other_processes_share_the_work_and_survive_kills() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let Some(s3) = S3Location::fresh() else { return };
    let (deployment, mut standalone) = Deployment::started(&pg, &s3).await;
    let token = deployment.token();
    deployment.create_project(&token).await;
    let mut client = deployment.client(&token).await;
    let mut workers = vec![deployment.worker("w1"), deployment.worker("w2")];
    let dir = tempfile::tempdir().unwrap();

    // 40 tasks at once over two workers: each creates its own file with noclobber, so a
    // task run twice would fail the run.
    let mut fanout = FANOUT.to_owned();
    for i in 0..40 {
        fanout.push_str(&format!(
            "  - {{id: t{i}, kind: command, argv: [sh, -c, 'set -C; echo $$ > {{{{ params.dir }}}}/t{i}; sleep 0.2']}}\n"
        ));
    }
    apply(&mut client, &fanout).await;
    apply(&mut client, KILLED).await;
    apply(&mut client, CHAIN).await;
    let run_id = trigger(&mut client, "fanout", dir.path()).await;
    let run = wait_for(&mut client, &run_id, ended).await;
    assert_eq!(run.state(), pb::RunState::Success, "{run:#?}");
    assert!(run.tasks.iter().all(|t| t.try_number == 1), "{run:#?}");
    let mut by = std::collections::BTreeSet::new();
    for task in &run.tasks {
        by.insert(task.worker.split('@').next().unwrap_or_default().to_owned());
    }
    assert_eq!(
        by.into_iter().collect::<Vec<_>>(),
        ["w1", "w2"],
        "both workers took tasks"
    );

    // SIGKILL the worker running a task: after its lease the other worker runs it again.
    let run_id = trigger(&mut client, "killed", dir.path()).await;
    let running = wait_for(&mut client, &run_id, |r| {
        r.tasks[0].state() == pb::TaskState::Running && dir.path().join("started").exists()
    })
    .await;
    let holder = running.tasks[0]
        .worker
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    let index = if holder == "w1" { 0 } else { 1 };
    kill(&mut workers[index]);
    let run = wait_for(&mut client, &run_id, ended).await;
    assert_eq!(run.state(), pb::RunState::Success, "{run:#?}");
    let task = &run.tasks[0];
    assert_eq!(task.try_number, 2, "{run:#?}");
    assert!(!task.worker.starts_with(&holder), "{run:#?}");
    let log = client
        .read_task_log(pb::ReadTaskLogRequest {
            project: PROJECT.into(),
            run_id: run_id.clone(),
            task_id: "slow".into(),
            try_number: 2,
            offset: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(log.complete);
    assert!(String::from_utf8_lossy(&log.data).contains("try 2 succeeded"));
    workers[index] = deployment.worker("w3");

    // The orchestrator dies mid-run: the workers finish the run on their own.
    let run_id = trigger(&mut client, "chain", dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.path().join("two").exists() {
        assert!(Instant::now() < deadline, "task two never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(&mut standalone);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut standalone = deployment.standalone();
    deployment.wait_ready().await;
    let mut client = deployment.client(&token).await;
    let run = wait_for(&mut client, &run_id, ended).await;
    assert_eq!(run.state(), pb::RunState::Success, "{run:#?}");
    assert!(run.tasks.iter().all(|t| t.try_number == 1), "{run:#?}");

    for worker in &mut workers {
        kill(worker);
    }
    kill(&mut standalone);
}
