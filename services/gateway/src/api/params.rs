//! The path and query parameters of the routes: one type per resource path, so a route's
//! OpenAPI parameters come from the type its handler extracts.

use lathe_contract::registry::v1 as pb;
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

impl ModelPath {
    /// Project and model.
    pub fn parts(self) -> (String, String) {
        (self.project, self.name)
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    pub project: String,
    /// Model name
    pub name: String,
    pub version: u64,
}

impl VersionPath {
    /// Project, model and version.
    pub fn parts(self) -> (String, String, u64) {
        (self.project, self.name, self.version)
    }

    pub fn reference(self) -> pb::ModelVersionRef {
        let (project, model, version) = self.parts();
        pb::ModelVersionRef {
            project,
            model,
            version,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AliasPath {
    pub project: String,
    /// Model name
    pub name: String,
    pub alias: String,
}

impl AliasPath {
    /// Project, model and alias.
    pub fn parts(self) -> (String, String, String) {
        (self.project, self.name, self.alias)
    }

    pub fn reference(self) -> pb::AliasRef {
        let (project, model, alias) = self.parts();
        pb::AliasRef {
            project,
            model,
            alias,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ExperimentPath {
    pub project: String,
    pub experiment_id: String,
}

impl ExperimentPath {
    /// Project and experiment id.
    pub fn parts(self) -> (String, String) {
        (self.project, self.experiment_id)
    }

    pub fn reference(self) -> pb::ExperimentRef {
        pb::ExperimentRef {
            project: self.project,
            experiment_id: self.experiment_id,
        }
    }
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

impl ArtifactPath {
    pub fn reference(self) -> pb::ArtifactRef {
        pb::ArtifactRef {
            project: self.project,
            run_id: self.run_id,
            path: self.path,
        }
    }
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KindQuery {
    /// entity, data_source, feature_view or feature_service; all when absent.
    pub kind: Option<String>,
}
