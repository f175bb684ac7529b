//! The `lathe` binary as a user runs it: a token from `lathe token create` works against
//! `lathe standalone` on the same data directory; SIGTERM stops it gracefully; bad settings
//! stop start-up with a message naming the key.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LATHE: &str = env!("CARGO_BIN_EXE_lathe");

fn lathe(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(LATHE);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
        .env("LATHE_TELEMETRY__LOG_FILTER", "warn")
        .current_dir(data_dir);
    // Ephemeral gRPC ports, so tests and other programs never collide.
    for service in ["REGISTRY", "FEATURES", "ORCHESTRATOR", "MONITOR"] {
        command.env(format!("LATHE_{service}__GRPC_ADDR"), "127.0.0.1:0");
    }
    command
}

fn create_token(data_dir: &std::path::Path, role: &str) -> String {
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
fn start_standalone(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = lathe(data_dir)
        .args(["standalone", "--data-dir"])
        .arg(data_dir)
        .args(["--http-addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(api) = line.trim().strip_prefix("API:") {
            let url = api.trim().trim_end_matches("/api/v1/").to_owned();
            return (child, url);
        }
    }
    let status = child.wait().unwrap();
    panic!("lathe standalone exited ({status}) without printing its URL");
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
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

async fn wait_ready(http: &reqwest::Client, url: &str) {
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

#[tokio::test]
async fn standalone_serves_and_accepts_tokens_from_token_create() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(dir.path(), "admin");
    let (child, url) = start_standalone(dir.path());
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{url}/healthz")).send().await.unwrap().status(),
        200
    );
    wait_ready(&http, &url).await;

    let whoami: serde_json::Value = http
        .get(format!("{url}/api/v1/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["subject"], "ana");
    assert_eq!(whoami["role"], "admin");
    let created = http
        .post(format!("{url}/api/v1/projects"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "churn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(terminate(child).success(), "graceful shutdown exits 0");

    // Restarted on the same data directory: same key, same data.
    let (child, url) = start_standalone(dir.path());
    wait_ready(&http, &url).await;
    let project = http
        .get(format!("{url}/api/v1/projects/churn"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(project.status(), 200);
    assert!(terminate(child).success());
}

#[test]
fn invalid_settings_stop_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = lathe(dir.path())
        .env("LATHE_GATEWAY__BODY_LIMIT_BYTES", "lots")
        .args(["standalone", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("gateway.body_limit_bytes") && stderr.contains("LATHE_GATEWAY__BODY_LIMIT_BYTES"),
        "{stderr}"
    );

    let output = lathe(dir.path())
        .env("LATHE_REGISTRY__DATABASE__URL", "mysql://nope")
        .args(["standalone", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("registry.database.url"), "{stderr}");
}
