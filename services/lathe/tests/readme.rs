//! Every command in a `sh` block of the README runs, in order, as a user would type it: the
//! README cannot drift from the code.
//!
//! The commands run with bash in a scratch folder that holds the checkout's `examples/`, with
//! `lathe` (the binary under test) on the PATH and a `cargo` that runs `cargo run … -p lathe --
//! ARGS` as `lathe ARGS`. A `quickstart` or `standalone` command starts that server in the
//! background (the previous one is stopped with SIGINT and must exit cleanly); the commands
//! after it, up to the next server, run as one script with `set -euo pipefail` against it. The
//! README's port 8080 becomes a free port, so the test never meets another server.
//!
//! Two commands are not run, and only these: the test command itself, and `docker compose up`
//! (no container engine here; `tests/tests/dev_stack.rs` checks the compose file).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Commands the test does not run, each with why.
const NOT_RUN: [(&str, &str); 2] = [
    ("./scripts/test.sh", "the command that runs this test"),
    (
        "docker compose up --build",
        "no container engine in CI; dev_stack.rs validates the file",
    ),
];
/// How long a server may take to be ready (the quickstart tells its whole story first).
const SERVER_READY: Duration = Duration::from_secs(600);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The commands of the README's `sh` blocks, in order, continuation lines joined.
fn commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_sh = !in_sh && info.trim() == "sh";
            continue;
        }
        if !in_sh || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#'))) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head.trim_end());
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

/// The server a command starts, if it starts one: its name and the line it prints when ready.
fn server_of(command: &str) -> Option<(&'static str, &'static str)> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let args = match words.iter().position(|w| *w == "--") {
        Some(at) if words.first() == Some(&"cargo") => &words[at + 1..],
        _ if words.first() == Some(&"lathe") => &words[1..],
        _ => return None,
    };
    match args.first() {
        Some(&"quickstart") => Some(("quickstart", "Serving until Ctrl-C.")),
        Some(&"standalone") => Some(("standalone", "Press Ctrl-C to stop.")),
        _ => None,
    }
}

fn not_run(command: &str) -> bool {
    let command = command.split(" #").next().unwrap_or(command).trim();
    NOT_RUN.iter().any(|(skipped, _)| *skipped == command)
}

/// The scratch folder: `examples/` of the checkout, a `bin/` with `lathe` and the `cargo` shim.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo_root().join("examples"), dir.path().join("examples")).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(common::LATHE, bin.join("lathe")).unwrap();
    let shim = "#!/bin/sh\n\
        # The README's `cargo run [--release] [-q] -p lathe -- ARGS`: the lathe binary under test.\n\
        while [ $# -gt 0 ]; do\n\
          case \"$1\" in\n\
            --) shift; exec lathe \"$@\" ;;\n\
            run|--release|-q|--quiet|-p|lathe) shift ;;\n\
            *) echo \"cargo shim: the README may only run lathe, not: $*\" >&2; exit 2 ;;\n\
          esac\n\
        done\n\
        echo 'cargo shim: no -- ARGS' >&2; exit 2\n";
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, shim).unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

fn bash(dir: &Path, port: u16) -> Command {
    let mut command = Command::new("bash");
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    command
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .env("LATHE_TELEMETRY__LOG_FILTER", "warn")
        // The README's 8080 is this port: for the servers, and as the clients' default URL.
        .env("LATHE_GATEWAY__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("LATHE_URL", format!("http://127.0.0.1:{port}"))
        .current_dir(dir);
    // The services' gRPC ports are ephemeral, so nothing else on the machine collides.
    for service in ["REGISTRY", "FEATURES", "ORCHESTRATOR", "MONITOR", "SERVING"] {
        command.env(format!("LATHE_{service}__GRPC_ADDR"), "127.0.0.1:0");
    }
    command
}

/// Starts the server a README command runs, in the background.
fn start_server(dir: &Path, port: u16, command: &str, name: &str, ready: &str) -> common::Background {
    let mut bash = bash(dir, port);
    bash.args(["-c", &format!("exec {command}")]);
    common::Background::start(name, bash, dir.join(format!("{name}.log")), ready, SERVER_READY)
}

/// Runs `commands` as one bash script; panics naming the command that failed.
fn run_script(dir: &Path, port: u16, commands: &[String], server: Option<&common::Background>) {
    if commands.is_empty() {
        return;
    }
    let mut script =
        String::from("set -euo pipefail\ntrap 'echo \"README command failed: $BASH_COMMAND\" >&2' ERR\n");
    for command in commands {
        script.push_str(command);
        script.push('\n');
    }
    let path = dir.join("readme-commands.sh");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = bash(dir, port).arg(&path).output().unwrap();
    assert!(
        output.status.success(),
        "README commands failed ({}):\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}\n--- server\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.map(common::Background::output).unwrap_or_default()
    );
}

#[test]
fn the_readme_commands_run() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let port = free_port();
    let readme = readme.replace("8080", &port.to_string());
    let all = commands(&readme);
    assert!(
        all.len() > 10,
        "the README's sh blocks hold only {} commands",
        all.len()
    );
    for (skipped, why) in NOT_RUN {
        assert!(
            all.iter()
                .any(|c| c.split(" #").next().unwrap_or(c).trim() == skipped),
            "`{skipped}` ({why}) is no longer in the README: drop it from NOT_RUN"
        );
    }
    let dir = scratch();
    let mut server: Option<common::Background> = None;
    let mut pending: Vec<String> = Vec::new();
    let mut servers_started = Vec::new();
    for command in all.iter().filter(|c| !not_run(c)) {
        if let Some((name, ready)) = server_of(command) {
            run_script(dir.path(), port, &pending, server.as_ref());
            pending.clear();
            if let Some(previous) = server.take() {
                previous.stop();
            }
            server = Some(start_server(dir.path(), port, command, name, ready));
            servers_started.push(name);
        } else {
            pending.push(command.clone());
        }
    }
    run_script(dir.path(), port, &pending, server.as_ref());
    if let Some(last) = server.take() {
        last.stop();
    }
    assert_eq!(servers_started, ["quickstart", "standalone"]);
}

#[test]
fn commands_are_read_from_sh_blocks_only() {
    let text = "intro\n```sh\n# a comment\nlathe a \\\n  --b c   # note\n\nlathe d\n```\n```text\nlathe e\n```\n```yaml\nx: 1\n```\n";
    assert_eq!(commands(text), ["lathe a --b c   # note", "lathe d"]);
    assert_eq!(
        server_of("cargo run --release -p lathe -- quickstart   # the story"),
        Some(("quickstart", "Serving until Ctrl-C."))
    );
    assert_eq!(server_of("lathe standalone").map(|s| s.0), Some("standalone"));
    assert_eq!(server_of("lathe models show churn"), None);
    assert!(not_run("./scripts/test.sh                # every check"));
    assert!(!not_run("./scripts/test.sh --other"));
}
