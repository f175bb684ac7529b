//! What the tests of the `lathe` binary share: running it as a user would, with a clean
//! environment and ephemeral ports, a token from `lathe token create`, `lathe standalone`
//! started and stopped.

#![allow(dead_code, reason = "each test file uses its own part")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const LATHE: &str = env!("CARGO_BIN_EXE_lathe");

pub fn lathe(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(LATHE);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
        .env("LATHE_TELEMETRY__LOG_FILTER", "warn")
        .current_dir(data_dir);
    // Ephemeral gRPC ports, so tests and other programs never collide.
    for service in ["REGISTRY", "FEATURES", "ORCHESTRATOR", "MONITOR", "SERVING"] {
        command.env(format!("LATHE_{service}__GRPC_ADDR"), "127.0.0.1:0");
    }
    command
}

pub fn create_token(data_dir: &std::path::Path, role: &str) -> String {
    let output = lathe(data_dir)
        .args(["token", "create", "--data-dir"])
        .arg(data_dir)
        .args(["--subject", "ana", "--role", role])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Starts `lathe standalone` and returns it with the API URL it printed.
pub fn start_standalone(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = lathe(data_dir)
        .args(["standalone", "--data-dir"])
        .arg(data_dir)
        .args(["--http-addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        if let Some(api) = line.trim().strip_prefix("API:") {
            let url = api.trim().trim_end_matches("/api/v1/").to_owned();
            // Keep reading so the process never writes into a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, url);
        }
    }
    let status = child.wait().unwrap();
    panic!("lathe standalone exited ({status}) without printing its URL");
}

pub fn terminate(mut child: Child) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "lathe did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub async fn wait_ready(http: &reqwest::Client, url: &str) {
    for _ in 0..200 {
        if let Ok(response) = http.get(format!("{url}/readyz")).send().await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url}/readyz never answered 200");
}

/// `lathe standalone` on `data_dir`, ready, with the project `project` created by an admin:
/// the process, the URL and the admin's token.
#[allow(
    dead_code,
    reason = "each test binary compiles this module; not all of them use every helper"
)]
pub async fn standalone_with_project(data_dir: &std::path::Path, project: &str) -> (Child, String, String) {
    let admin = create_token(data_dir, "admin");
    let (child, url) = start_standalone(data_dir);
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;
    let created = http
        .post(format!("{url}/api/v1/projects"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "name": project }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    (child, url, admin)
}

/// A long-running `lathe` command (a quickstart, a standalone) started by a test, its output in
/// a file; killed if the test panics.
pub struct Background {
    pub name: String,
    child: Child,
    log: std::path::PathBuf,
}

impl Background {
    /// Spawns `command` with its output to `log`, and waits (at most `within`) until the output
    /// holds `ready`; panics with the output if it exits first or never gets there.
    pub fn start(
        name: &str,
        mut command: Command,
        log: std::path::PathBuf,
        ready: &str,
        within: Duration,
    ) -> Background {
        let out = std::fs::File::create(&log).unwrap();
        let child = command
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut started = Background {
            name: name.to_owned(),
            child,
            log,
        };
        let deadline = Instant::now() + within;
        loop {
            let text = started.output();
            if text.contains(ready) {
                return started;
            }
            if let Some(status) = started.child.try_wait().unwrap() {
                panic!("`{name}` exited ({status}) before it was ready:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "`{name}` was not ready within {within:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ctrl-C, as a user stops it: it must exit cleanly.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{} did not stop on Ctrl-C", self.name);
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "{} exited {status} on Ctrl-C:\n{}",
            self.name,
            self.output()
        );
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
