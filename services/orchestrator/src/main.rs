//! `lathe-orchestrator`: this service alone, as `lathe serve orchestrator` runs it.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lathe_common::service::main_for::<lathe_orchestrator::Orchestrator>("lathe-orchestrator").await
}
