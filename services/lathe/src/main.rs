//! The `lathe` command: the whole platform in one process, one service of a distributed
//! deployment, or a token for calling the API.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod commands;

use clap::{Parser, Subcommand, ValueEnum};
use lathe_common::auth::{Role, Signer};
use lathe_common::config::{CommonSettings, Config};
use lathe_common::service::{run_standalone_service, shutdown_signal};
use lathe_common::telemetry;

#[derive(Parser)]
#[command(
    name = "lathe",
    version,
    about = "Lathe: features, models, pipelines and monitoring in one platform"
)]
struct Cli {
    /// TOML configuration file (also `LATHE_CONFIG`); `LATHE_*` variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service and the gateway in one process on embedded defaults.
    Standalone {
        /// Where embedded stores keep their files (default `.lathe`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address of the HTTP API (default 127.0.0.1:8080).
        #[arg(long)]
        http_addr: Option<std::net::SocketAddr>,
    },
    /// Tell the churn story end to end on embedded stores: features, a training pipeline, the
    /// registry's gate, serving, drift and retraining (`examples/churn/`).
    Quickstart(commands::quickstart::QuickstartArgs),
    /// Run one service, for a distributed deployment.
    Serve {
        #[arg(value_enum)]
        service: ServiceName,
    },
    /// Print the OpenAPI document of the HTTP API (what `/api-docs/openapi.json` serves).
    Openapi,
    /// Make API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Experiments of a project (client of a running Lathe).
    Experiments {
        #[command(flatten)]
        connection: commands::Connection,
        #[command(subcommand)]
        command: commands::tracking::ExperimentsCommand,
    },
    /// Runs: logging, search, artifacts (client of a running Lathe).
    Runs {
        #[command(flatten)]
        connection: commands::Connection,
        #[command(subcommand)]
        command: commands::tracking::RunsCommand,
    },
    /// The feature store's definitions (client of a running Lathe).
    Features {
        #[command(flatten)]
        connection: commands::Connection,
        #[command(subcommand)]
        command: commands::features::FeaturesCommand,
    },
    /// Pipelines: YAML definitions, runs, task logs (client of a running Lathe).
    Pipelines {
        #[command(flatten)]
        connection: commands::Connection,
        /// Print the API's JSON answers instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: commands::pipelines::PipelinesCommand,
    },
    /// Drift monitors: definitions, reference samples, logged rows, checked windows, reports,
    /// alerts (client of a running Lathe).
    Monitors {
        #[command(flatten)]
        connection: commands::Connection,
        /// Print the API's JSON answers instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: commands::monitors::MonitorsCommand,
    },
    /// Drift between local datasets, computed on this machine (no server).
    Monitor {
        #[command(subcommand)]
        command: commands::monitors::MonitorCommand,
    },
    /// Run a pipeline worker: claims task instances from the orchestrator's database and runs
    /// them (the orchestrator's settings: database, object store, `orchestrator.worker.*`).
    Worker {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Name shown on the task instances it runs (default `worker`).
        #[arg(long, default_value = "worker")]
        name: String,
    },
    /// The model registry (client of a running Lathe).
    Models {
        #[command(flatten)]
        connection: commands::Connection,
        #[command(subcommand)]
        command: commands::models::ModelsCommand,
    },
    /// Deploy a model behind an alias, or replace a deployment (client of a running Lathe).
    Deploy {
        #[command(flatten)]
        connection: commands::Connection,
        /// Print the API's JSON answer instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        args: commands::serving::DeployArgs,
    },
    /// Stop serving a deployment (client of a running Lathe).
    Undeploy {
        #[command(flatten)]
        connection: commands::Connection,
        name: String,
    },
    /// The project's deployments with the version each serves, or one deployment (client of a
    /// running Lathe).
    Deployments {
        #[command(flatten)]
        connection: commands::Connection,
        /// Print the API's JSON answer instead of text.
        #[arg(long)]
        json: bool,
        name: Option<String>,
    },
    /// Predict with a deployment: score an entity file into Parquet, or one entity online
    /// (client of a running Lathe).
    Predict {
        #[command(flatten)]
        connection: commands::Connection,
        #[command(flatten)]
        args: commands::serving::PredictArgs,
    },
}

impl Command {
    /// The connection of a client command (one that calls a running Lathe's API).
    fn connection_mut(&mut self) -> Option<&mut commands::Connection> {
        match self {
            Command::Experiments { connection, .. }
            | Command::Runs { connection, .. }
            | Command::Features { connection, .. }
            | Command::Pipelines { connection, .. }
            | Command::Monitors { connection, .. }
            | Command::Models { connection, .. }
            | Command::Deploy { connection, .. }
            | Command::Undeploy { connection, .. }
            | Command::Deployments { connection, .. }
            | Command::Predict { connection, .. } => Some(connection),
            Command::Standalone { .. }
            | Command::Quickstart(_)
            | Command::Serve { .. }
            | Command::Token { .. }
            | Command::Openapi
            | Command::Monitor { .. }
            | Command::Worker { .. } => None,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ServiceName {
    Gateway,
    Features,
    Registry,
    Orchestrator,
    Monitor,
    Serving,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a token signed with the key a standalone on the same data directory uses.
    Create {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        subject: String,
        /// viewer, editor or admin.
        #[arg(long)]
        role: Role,
        /// A project the token may touch; repeat for several; `*` for all. Default: all.
        #[arg(long = "project")]
        projects: Vec<String>,
        /// Lifetime in seconds (default: auth.token_ttl_seconds).
        #[arg(long)]
        ttl: Option<u64>,
    },
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    // Run as `churn-trainer` (the quickstart links that name to this binary), it is the
    // example trainer.
    let invoked_as = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_owned()));
    if invoked_as.as_deref() == Some(std::ffi::OsStr::new(commands::quickstart::TRAINER)) {
        return lathe_example_trainer::cli_main(std::env::args_os());
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lathe: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lathe: {err}");
            ExitCode::FAILURE
        }
    }
}

fn common_settings(config: &Config, data_dir: Option<PathBuf>) -> Result<CommonSettings, BoxError> {
    let mut common = config.common()?;
    if let Some(dir) = data_dir {
        common.data_dir = dir;
    }
    Ok(common)
}

async fn run(mut cli: Cli) -> Result<(), BoxError> {
    let config = Config::load(cli.config.as_deref())?;
    if let Some(connection) = cli.command.connection_mut() {
        let common = config.common()?;
        commands::local::sign_when_beside_standalone(connection, &common.data_dir, &common.auth)?;
    }
    match cli.command {
        Command::Standalone { data_dir, http_addr } => {
            let mut settings = lathe::PlatformSettings::from_config(&config)?;
            settings.common = common_settings(&config, data_dir)?;
            if let Some(addr) = http_addr {
                settings.gateway.http_addr = addr;
            }
            let telemetry = telemetry::init("lathe", &settings.common.telemetry)?;
            let outcome = standalone(settings).await;
            telemetry.shutdown();
            outcome
        }
        Command::Quickstart(args) => {
            let common = common_settings(&config, Some(args.data_dir.clone()))?;
            let telemetry = telemetry::init("lathe", &quiet(common.telemetry))?;
            let outcome = commands::quickstart::quickstart(&config, args).await;
            telemetry.shutdown();
            outcome
        }
        Command::Serve { service } => {
            let common = common_settings(&config, None)?;
            let telemetry = telemetry::init(process_name(service), &common.telemetry)?;
            let outcome = match service {
                ServiceName::Gateway => lathe_gateway::run(&config, &common, shutdown_signal()).await,
                ServiceName::Registry => {
                    run_standalone_service::<lathe_registry_service::Registry>(&config, &common).await
                }
                ServiceName::Features => {
                    run_standalone_service::<lathe_feature_service::Features>(&config, &common).await
                }
                ServiceName::Orchestrator => {
                    run_standalone_service::<lathe_orchestrator::Orchestrator>(&config, &common).await
                }
                ServiceName::Monitor => {
                    run_standalone_service::<lathe_monitor::Monitor>(&config, &common).await
                }
                ServiceName::Serving => {
                    run_standalone_service::<lathe_serving::Serving>(&config, &common).await
                }
            };
            telemetry.shutdown();
            outcome
        }
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&lathe_gateway::openapi_document())?
            );
            Ok(())
        }
        Command::Worker { data_dir, name } => {
            let common = common_settings(&config, data_dir)?;
            let telemetry = telemetry::init("lathe-worker", &common.telemetry)?;
            let settings = config.section(
                lathe_orchestrator::SECTION,
                lathe_orchestrator::default_settings(),
            )?;
            let outcome = lathe_orchestrator::run_worker(
                &settings,
                &common,
                &name,
                lathe_common::service::Shutdown::on(shutdown_signal()),
            )
            .await;
            telemetry.shutdown();
            Ok(outcome?)
        }
        Command::Experiments { connection, command } => {
            commands::tracking::experiments(&commands::Api::new(&connection)?, command).await
        }
        Command::Runs { connection, command } => {
            commands::tracking::runs(&commands::Api::new(&connection)?, command).await
        }
        Command::Features { connection, command } => {
            commands::features::features(&commands::Api::new(&connection)?, command).await
        }
        Command::Pipelines {
            connection,
            json,
            command,
        } => commands::pipelines::pipelines(&commands::Api::new(&connection)?, command, json).await,
        Command::Monitors {
            connection,
            json,
            command,
        } => commands::monitors::monitors(&commands::Api::new(&connection)?, command, json).await,
        Command::Monitor { command } => commands::monitors::monitor(command).await,
        Command::Models { connection, command } => {
            commands::models::models(&commands::Api::new(&connection)?, command).await
        }
        Command::Deploy {
            connection,
            json,
            args,
        } => commands::serving::deploy(&commands::Api::new(&connection)?, args, json).await,
        Command::Undeploy { connection, name } => {
            commands::serving::undeploy(&commands::Api::new(&connection)?, name).await
        }
        Command::Deployments {
            connection,
            json,
            name,
        } => commands::serving::deployments(&commands::Api::new(&connection)?, name, json).await,
        Command::Predict { connection, args } => {
            commands::serving::predict(&commands::Api::new(&connection)?, args).await
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    data_dir,
                    subject,
                    role,
                    projects,
                    ttl,
                },
        } => {
            let common = common_settings(&config, data_dir)?;
            let signer = Signer::from_settings(&common.auth, &common.data_dir)?;
            let projects = if projects.is_empty() {
                vec![lathe_common::auth::ALL_PROJECTS.to_owned()]
            } else {
                projects
            };
            let ttl = Duration::from_secs(ttl.unwrap_or(common.auth.token_ttl_seconds));
            println!("{}", signer.sign(&subject, &[role], &projects, ttl)?);
            Ok(())
        }
    }
}

/// The quickstart's own output is the story (drift alerts included): the services log only
/// errors unless `telemetry.log_filter` asks for more.
fn quiet(mut settings: lathe_common::config::TelemetrySettings) -> lathe_common::config::TelemetrySettings {
    if settings.log_filter == lathe_common::config::TelemetrySettings::default().log_filter {
        settings.log_filter = "error".to_owned();
    }
    settings
}

fn process_name(service: ServiceName) -> &'static str {
    match service {
        ServiceName::Gateway => "lathe-gateway",
        ServiceName::Features => "lathe-feature-service",
        ServiceName::Registry => "lathe-registry-service",
        ServiceName::Orchestrator => "lathe-orchestrator",
        ServiceName::Monitor => "lathe-monitor",
        ServiceName::Serving => "lathe-serving",
    }
}

async fn standalone(settings: lathe::PlatformSettings) -> Result<(), BoxError> {
    let data_dir = settings.common.data_dir.clone();
    let settings_auth = settings.common.auth.clone();
    let token_ttl = settings.common.auth.token_ttl_seconds;
    let mut platform = lathe::start(settings).await?;
    let url = platform.url();
    let mut out = std::io::stdout().lock();
    // Printing is best-effort: a closed stdout must not stop the platform.
    let _ = writeln!(out, "Lathe is running (data in {}).", data_dir.display());
    let _ = writeln!(out, "  API:          {url}/api/v1/");
    let _ = writeln!(out, "  API docs:     {url}/api-docs/");
    let _ = writeln!(out, "  OpenAPI:      {url}/api-docs/openapi.json");
    let _ = writeln!(
        out,
        "  health:       {url}/healthz   readiness: {url}/readyz   metrics: {url}/metrics"
    );
    for (name, addr) in &platform.grpc_addrs {
        let _ = writeln!(out, "  gRPC {name:<13} {addr}   (metrics: http://{addr}/metrics)");
    }
    let _ = writeln!(
        out,
        "  a token:      lathe token create --data-dir {} --subject you --role admin",
        data_dir.display()
    );
    // As Jupyter does: a link that signs a browser in as an admin of this data directory, once.
    match Signer::from_settings(&settings_auth, &data_dir).and_then(|signer| {
        signer.sign(
            "browser",
            &[Role::Admin],
            &[lathe_common::auth::ALL_PROJECTS.to_owned()],
            Duration::from_secs(token_ttl),
        )
    }) {
        Ok(token) => {
            let _ = writeln!(
                out,
                "  sign in:      {} (once)",
                platform.sign_in_link(token, "/")
            );
        }
        Err(err) => {
            let _ = writeln!(out, "  sign in:      unavailable ({err})");
        }
    }
    let _ = writeln!(out, "Press Ctrl-C to stop.");
    drop(out);
    // Client commands run beside this standalone find its URL here and sign their own token.
    let marker = commands::local::Marker::write(&data_dir, &url);
    let outcome = tokio::select! {
        () = shutdown_signal() => {
            platform.shutdown().await;
            Ok(())
        }
        err = platform.wait_for_failure() => Err(err.into()),
    };
    drop(marker);
    outcome
}
