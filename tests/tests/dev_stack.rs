//! The dev stack's compose file is valid Compose, and wires variables the settings read.

use std::path::PathBuf;
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repo")
        .to_owned()
}

/// The Compose v2 plugin that `scripts/install-tools.sh` installs (no Docker engine needed).
fn compose_binary() -> Option<PathBuf> {
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    let plugin = config.join("cli-plugins/docker-compose");
    plugin.exists().then_some(plugin)
}

#[test]
fn compose_file_is_valid() {
    let Some(compose) = compose_binary() else {
        lathe_testkit::unavailable::<()>("docker compose", "run scripts/install-tools.sh");
        return;
    };
    let root = repo_root();
    let output = Command::new(&compose)
        .args(["-f", "docker-compose.yml", "config", "--quiet"])
        .current_dir(&root)
        .output()
        .expect("run docker compose");
    assert!(
        output.status.success(),
        "docker compose config: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A broken copy is refused, so the check above can fail.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        text.replace("services:", "servics:"),
    )
    .unwrap();
    let broken = Command::new(&compose)
        .args(["-f", "docker-compose.yml", "config", "--quiet"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!broken.status.success());
}

/// `LATHE_*: value` pairs written in the compose file.
fn compose_variables(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.trim().split_once(':')?;
            key.starts_with("LATHE_")
                .then(|| (key.to_owned(), value.trim().trim_matches('"').to_owned()))
        })
        .collect()
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "serde_json::Value is foreign: only strings are shown unquoted"
)]
fn compose_variables_are_settings_lathe_reads() {
    let text = std::fs::read_to_string(repo_root().join("docker-compose.yml")).unwrap();
    let vars = compose_variables(&text);
    assert!(
        vars.len() > 20,
        "expected the services to be wired by LATHE_ variables, found {vars:?}"
    );
    figment::Jail::expect_with(|jail| {
        for (key, value) in &vars {
            jail.set_env(key, value);
        }
        let config = lathe_common::config::Config::load(None).expect("the compose environment loads");
        let settings =
            lathe::PlatformSettings::from_config(&config).expect("the compose environment is valid");
        let effective = serde_json::json!({
            "data_dir": settings.common.data_dir,
            "auth": settings.common.auth,
            "telemetry": settings.common.telemetry,
            "gateway": settings.gateway,
            "registry": settings.registry,
            "features": settings.features,
            "orchestrator": settings.orchestrator,
            "monitor": settings.monitor,
            "serving": settings.serving,
        });
        // Each variable must land on a real setting with its value: a typo would be ignored silently.
        for (key, value) in &vars {
            let pointer = format!(
                "/{}",
                key.trim_start_matches("LATHE_").to_lowercase().replace("__", "/")
            );
            let landed = effective
                .pointer(&pointer)
                .unwrap_or_else(|| panic!("{key} is not a setting Lathe reads"));
            let landed = match landed {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(&landed, value, "{key}");
        }
        Ok(())
    });
}
