//! `lathe-monitor`: this service alone, as `lathe serve monitor` runs it.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lathe_common::service::main_for::<lathe_monitor::Monitor>("lathe-monitor").await
}
