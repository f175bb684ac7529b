//! `lathe-feature-service`: this service alone, as `lathe serve features` runs it.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lathe_common::service::main_for::<lathe_feature_service::Features>("lathe-feature-service").await
}
