//! `lathe-registry-service`: this service alone, as `lathe serve registry` runs it.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lathe_common::service::main_for::<lathe_registry_service::Registry>("lathe-registry-service").await
}
