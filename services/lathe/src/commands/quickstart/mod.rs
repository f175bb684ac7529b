//! `lathe quickstart`: the churn story end to end on embedded defaults, in one command.
//!
//! It starts the platform (as `lathe standalone`) in its own data directory and drives it
//! through the REST API, as any client would: the feature repository, the registry's gate, the
//! pipeline and the monitor come from `examples/churn/` (built into the binary, so an installed
//! `lathe` needs no checkout); the data come from [`lathe::churn_data`]. Each step prints what it did,
//! what it proved and how long it took; a step whose result is not the expected one stops the
//! quickstart with an error naming the step.
//!
//! The pipeline's trainer is `churn-trainer` (`examples/churn/trainer`), a program of its own
//! that the `lathe` binary also carries: run under that name (a link in `<data dir>/bin`, put on
//! the worker's `PATH`) it is the trainer. The worker runs it as any command task.

mod story;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use lathe_common::config::Config;

use super::BoxError;

/// The files of `examples/churn/`, as the quickstart applies them.
pub mod example {
    pub const FEATURES: &str = include_str!("../../../../../examples/churn/features/churn.yaml");
    pub const MODEL: &str = include_str!("../../../../../examples/churn/model.yaml");
    pub const MONITOR: &str = include_str!("../../../../../examples/churn/monitor.yaml");
    pub const PIPELINE: &str = include_str!("../../../../../examples/churn/pipeline.yaml");
}

/// The name the `lathe` binary answers to as the example trainer.
pub const TRAINER: &str = "churn-trainer";
/// The file in the data directory that says the quickstart made it.
const MARKER: &str = "quickstart.json";

#[derive(Args, Clone, Debug)]
pub struct QuickstartArgs {
    /// Where the platform keeps its data: made when missing; one an earlier quickstart made is
    /// reused (its churn project is replaced).
    #[arg(long, default_value = "lathe-quickstart")]
    pub data_dir: PathBuf,
    /// Address of the HTTP API (default: `gateway.http_addr`, 127.0.0.1:8080).
    #[arg(long)]
    pub http_addr: Option<SocketAddr>,
    /// Stop once the story is told, instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

/// Runs the quickstart; an error names the step that failed.
pub async fn quickstart(config: &Config, args: QuickstartArgs) -> Result<(), BoxError> {
    let data_dir = prepare(&args.data_dir)?;
    // The services' gRPC ports are ephemeral (a standalone may hold the defaults); the API is
    // where --http-addr or gateway.http_addr says.
    let settings = lathe::PlatformSettings::from_config(config)?;
    let http_addr = args.http_addr.unwrap_or(settings.gateway.http_addr);
    let mut settings = settings.on_ephemeral_ports();
    settings.gateway.http_addr = http_addr;
    settings.common.data_dir = data_dir.clone();
    // The pipeline's relative paths (its labels) are under the data directory, and its trainer
    // is found on the PATH the worker gives command tasks.
    settings.orchestrator.worker.task_root = Some(data_dir.clone());
    settings
        .orchestrator
        .worker
        .env
        .insert("PATH".to_owned(), trainer_path(&data_dir)?);
    story::tell(settings, args.exit).await
}

/// Makes the data directory, or checks that an existing one is the quickstart's; returns it
/// absolute.
fn prepare(dir: &Path) -> Result<PathBuf, BoxError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .next()
            .is_none();
        if !empty && !dir.join(MARKER).exists() {
            return Err(format!(
                "{} exists and was not made by `lathe quickstart`: pass another --data-dir",
                dir.display()
            )
            .into());
        }
    } else {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let dir = std::fs::canonicalize(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "{\"made_by\": \"lathe quickstart\", \"project\": \"churn\"}\n",
    )?;
    Ok(dir)
}

/// `<data dir>/bin` (with `churn-trainer`, a link to this binary) ahead of the current PATH.
fn trainer_path(data_dir: &Path) -> Result<String, BoxError> {
    let bin = data_dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    let link = bin.join(TRAINER);
    let exe = std::env::current_exe()?;
    if std::fs::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link).map_err(|e| format!("{}: {e}", link.display()))?;
    }
    let inherited = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_owned());
    Ok(format!("{}:{inherited}", bin.display()))
}
