//! `lathe-gateway`: the gateway alone, as `lathe serve gateway` runs it.

use lathe_common::config::Config;
use lathe_common::service::shutdown_signal;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = async {
        let config = Config::load(None)?;
        let common = config.common()?;
        let telemetry = lathe_common::telemetry::init("lathe-gateway", &common.telemetry)?;
        let outcome = lathe_gateway::run(&config, &common, shutdown_signal()).await;
        telemetry.shutdown();
        outcome
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lathe-gateway: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
