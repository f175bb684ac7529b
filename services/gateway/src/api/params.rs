//! The path and query parameters of the routes: one type per resource path, so a route's
//! OpenAPI parameters come from the type its handler extracts.

use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectName {
    /// Project name
    pub name: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    pub project: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ModelPath {
    pub project: String,
    /// Model name
    pub name: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    pub project: String,
    /// Model name
    pub name: String,
    pub version: u64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AliasPath {
    pub project: String,
    /// Model name
    pub name: String,
    pub alias: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ExperimentPath {
    pub project: String,
    pub experiment_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    pub project: String,
    pub run_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ArtifactPath {
    pub project: String,
    pub run_id: String,
    /// Relative path in the run's artifact tree; no `..`
    pub path: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MetricPath {
    pub project: String,
    pub run_id: String,
    /// Metric key
    pub key: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EntityPath {
    pub project: String,
    /// Entity name
    pub name: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PipelinePath {
    pub project: String,
    /// Pipeline name
    pub name: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PipelineRunPath {
    pub project: String,
    pub run_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TaskLogPath {
    pub project: String,
    pub run_id: String,
    /// Task id in the pipeline
    pub task_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MonitorPath {
    pub project: String,
    /// Monitor name
    pub monitor: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MonitorWindowPath {
    pub project: String,
    /// Monitor name
    pub monitor: String,
    /// Any instant in the window (RFC 3339, e.g. `2026-01-01T10:15:00Z`)
    pub window: String,
}

// `parts()`: a path's values in the order the URL names them, which is the order of the
// fields that `requests.rs` fills from them.
macro_rules! parts {
    ($($path:ident => ($($field:ident),+): $parts:ty;)+) => {$(
        impl $path {
            pub fn parts(self) -> $parts {
                ($(self.$field),+)
            }
        }
    )+};
}

parts! {
    ModelPath => (project, name): (String, String);
    VersionPath => (project, name, version): (String, String, u64);
    AliasPath => (project, name, alias): (String, String, String);
    ExperimentPath => (project, experiment_id): (String, String);
    RunPath => (project, run_id): (String, String);
    MetricPath => (project, run_id, key): (String, String, String);
    EntityPath => (project, name): (String, String);
    DefinitionPath => (project, kind, name): (String, String, String);
    ArtifactPath => (project, run_id, path): (String, String, String);
    PipelinePath => (project, name): (String, String);
    PipelineRunPath => (project, run_id): (String, String);
    TaskLogPath => (project, run_id, task_id): (String, String, String);
    MonitorPath => (project, monitor): (String, String);
    MonitorWindowPath => (project, monitor, window): (String, String, String);
}

/// A page of a listing.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl ListQuery {
    /// Page size and token as a request carries them: 0 and "" for the first default page.
    pub fn page(self) -> (u32, String) {
        (self.page_size.unwrap_or(0), self.page_token.unwrap_or_default())
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DefinitionPath {
    pub project: String,
    pub kind: String,
    pub name: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListArtifactsQuery {
    /// Directory to list; the root when absent.
    pub path: Option<String>,
}
