//! `kind: command`: runs user code as a child process in its own process group, with the
//! run's facts in its environment; its stdout and stderr go to the task log; a timeout or a
//! cancelled run kills the whole group (the child and whatever it started).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Map, Value as Json};
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use super::claims::Outcome;
use super::logs::LogWriter;

/// A command with its templates rendered.
pub struct CommandSpec {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<PathBuf>,
    /// Where each input is read from, by name; fetched before the command starts.
    pub inputs: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
}

/// Where one try keeps its files: `outputs.json`, `artifacts/` and `inputs/`.
pub struct TryDir {
    pub root: PathBuf,
}

impl TryDir {
    pub fn outputs(&self) -> PathBuf {
        self.root.join("outputs.json")
    }

    pub fn artifacts(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    /// Where the command's inputs are fetched to, one folder per input.
    pub fn inputs(&self) -> PathBuf {
        self.root.join("inputs")
    }
}

/// Runs the command to its end, its timeout, or `stop` turning true (the try is no longer
/// this worker's); `env` is the run's environment (`LATHE_*`).
pub async fn run(
    spec: &CommandSpec,
    env: &BTreeMap<String, String>,
    dir: &TryDir,
    log: &mut LogWriter,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let Some((program, args)) = spec.argv.split_first() else {
        return Outcome::Failure("argv is empty".to_owned());
    };
    if let Err(err) = tokio::fs::create_dir_all(dir.artifacts()).await {
        return Outcome::Failure(format!(
            "cannot create the task directory {}: {err}",
            dir.root.display()
        ));
    }
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env)
        .envs(&spec.env)
        .env("LATHE_OUTPUTS", dir.outputs())
        .env("LATHE_ARTIFACTS_DIR", dir.artifacts())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(working_dir) = &spec.working_dir {
        command.current_dir(working_dir);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let place = spec
                .working_dir
                .as_deref()
                .map_or(String::new(), |d| format!(" in {}", d.display()));
            return Outcome::Failure(format!("cannot start '{program}'{place}: {err}"));
        }
    };
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let (sender, mut received) = mpsc::channel::<Vec<u8>>(64);
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let sender = sender.clone();
        tokio::spawn(forward(stream, sender));
    }
    drop(sender);
    let deadline = async {
        match spec.timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    // Output that arrives and then pauses is still written out for readers following the log.
    let mut flush = tokio::time::interval(Duration::from_millis(250));
    let mut output_open = true;
    // The child's exit status, once it has exited; its output is read until the pipes close,
    // or for DRAIN more if a process it left behind holds them open.
    let mut exited = None;
    let drained = tokio::time::sleep(Duration::from_secs(86_400 * 365));
    tokio::pin!(drained);
    let ended = loop {
        if exited.is_some() && !output_open {
            break Ended::Exited(exited.take());
        }
        tokio::select! {
            chunk = received.recv(), if output_open => match chunk {
                Some(chunk) => {
                    if let Err(err) = log.write(&chunk).await {
                        tracing::warn!(error = %err, "cannot write a task log chunk");
                    }
                }
                None => output_open = false,
            },
            status = child.wait(), if exited.is_none() => {
                exited = Some(status);
                drained.as_mut().reset(tokio::time::Instant::now() + DRAIN);
            }
            () = &mut drained, if exited.is_some() => break Ended::Exited(exited.take()),
            _ = flush.tick() => {
                if let Err(err) = log.flush().await {
                    tracing::warn!(error = %err, "cannot write a task log chunk");
                }
            }
            () = &mut deadline => break Ended::TimedOut,
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break Ended::Stopped;
                }
            }
        }
    };
    // Whatever the command left running in its group ends with it.
    if matches!(ended, Ended::Exited(_)) {
        kill_group(group, &mut child).await;
    }
    match ended {
        Ended::Exited(None) => Outcome::Failure("the process vanished".to_owned()),
        Ended::Exited(Some(Ok(status))) if status.success() => read_outputs(&dir.outputs()).await,
        Ended::Exited(Some(Ok(status))) => Outcome::Failure(match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "killed by a signal".to_owned(),
        }),
        Ended::Exited(Some(Err(err))) => Outcome::Failure(format!("cannot wait for the process: {err}")),
        Ended::TimedOut => {
            kill_group(group, &mut child).await;
            let timeout = spec.timeout.unwrap_or_default();
            Outcome::Failure(format!(
                "timed out after {}s; the process group was killed",
                timeout.as_secs_f64()
            ))
        }
        Ended::Stopped => {
            kill_group(group, &mut child).await;
            Outcome::Failure(
                "stopped: the try is no longer this worker's (run cancelled or lease lost)".to_owned(),
            )
        }
    }
}

/// How long output is still read after the command exited, while something it left behind
/// holds its pipes open.
const DRAIN: Duration = Duration::from_millis(200);

enum Ended {
    Exited(Option<std::io::Result<std::process::ExitStatus>>),
    TimedOut,
    Stopped,
}

async fn forward(mut stream: Box<dyn tokio::io::AsyncRead + Send + Unpin>, sender: mpsc::Sender<Vec<u8>>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if sender.send(buffer[..n].to_vec()).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Kills the child's whole process group, then reaps the child.
async fn kill_group(group: Option<Pid>, child: &mut tokio::process::Child) {
    if let Some(group) = group
        && let Err(err) = killpg(group, Signal::SIGKILL)
    {
        tracing::debug!(error = %err, "killpg");
    }
    let _ = child.kill().await;
}

/// The outputs the command wrote: a JSON object, or nothing.
async fn read_outputs(path: &Path) -> Outcome {
    match tokio::fs::read(path).await {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Outcome::Success(Map::new()),
        Ok(bytes) => match serde_json::from_slice::<Json>(&bytes) {
            Ok(Json::Object(outputs)) => Outcome::Success(outputs),
            Ok(_) => Outcome::Failure("$LATHE_OUTPUTS must hold a JSON object".to_owned()),
            Err(err) => Outcome::Failure(format!("$LATHE_OUTPUTS is not valid JSON: {err}")),
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Outcome::Success(Map::new()),
        Err(err) => Outcome::Failure(format!("cannot read $LATHE_OUTPUTS: {err}")),
    }
}
