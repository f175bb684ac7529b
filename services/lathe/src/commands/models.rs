//! `lathe models list|show|create|register|promote|alias|audit|delete`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{Api, BoxError, print, segment};

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// List registered models.
    List,
    /// Show a model with its aliases, latest versions per stage and policies.
    Show { name: String },
    /// Register a new model name.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Promotion policies as JSON, e.g.
        /// `[{"stage":"Staging","conditions":[{"metric":{"key":"accuracy","op":">=","value":0.9}}]}]`.
        #[arg(long)]
        policies: Option<String>,
    },
    /// Register a version from a run's artifact.
    Register {
        name: String,
        #[arg(long)]
        run: String,
        /// File or directory in the run's artifacts.
        #[arg(long)]
        artifact_path: String,
        #[arg(long, default_value = "")]
        description: String,
        /// A feature view it was trained on; repeatable.
        #[arg(long = "feature-view")]
        feature_views: Vec<String>,
        #[arg(long)]
        feature_service: Option<String>,
        #[arg(long)]
        training_dataset: Option<String>,
        #[arg(long)]
        orchestrator_run: Option<String>,
        /// The signature's inputs, the features the model takes (`view:feature`), in the
        /// model's input order; repeatable. Serving needs them.
        #[arg(long = "input")]
        inputs: Vec<String>,
        /// The signature's output (what the model predicts).
        #[arg(long, default_value = "")]
        output: String,
        /// A signature default, `view:feature=NUMBER`: what serving uses when the online store
        /// lacks that input; repeatable.
        #[arg(long = "default", value_parser = input_default)]
        defaults: Vec<(String, f64)>,
    },
    /// Move a version to a stage (None, Staging, Production, Archived); gates are checked by the server.
    Promote {
        name: String,
        version: u64,
        stage: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// Archive the other versions in that stage.
        #[arg(long)]
        archive_existing: bool,
    },
    /// Point an alias at a version.
    Alias {
        name: String,
        alias: String,
        version: u64,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Who moved which stage or alias, when and why.
    Audit { name: String },
    /// Delete a model, its versions and their artifacts.
    Delete { name: String },
}

pub async fn models(api: &Api, command: ModelsCommand) -> Result<(), BoxError> {
    let answer = match command {
        ModelsCommand::List => api.every_page("/models", "models").await?,
        ModelsCommand::Show { name } => api.get(&format!("/models/{}", segment(&name))).await?,
        ModelsCommand::Create {
            name,
            description,
            policies,
        } => {
            let policies: Value = match policies {
                Some(text) => {
                    serde_json::from_str(&text).map_err(|e| format!("--policies is not JSON: {e}"))?
                }
                None => json!([]),
            };
            api.post(
                "/models",
                json!({ "name": name, "description": description, "policies": policies }),
            )
            .await?
        }
        ModelsCommand::Register {
            name,
            run,
            artifact_path,
            description,
            feature_views,
            feature_service,
            training_dataset,
            orchestrator_run,
            inputs,
            output,
            defaults,
        } => {
            let defaults: serde_json::Map<String, serde_json::Value> = defaults
                .into_iter()
                .map(|(input, value)| (input, json!(value)))
                .collect();
            let body = json!({
                "run_id": run,
                "artifact_path": artifact_path,
                "description": description,
                "signature": { "inputs": inputs, "output": output, "defaults": defaults },
                "lineage": {
                    "feature_views": feature_views,
                    "feature_service": feature_service,
                    "training_dataset": training_dataset,
                    "orchestrator_run": orchestrator_run,
                },
            });
            api.post(&format!("/models/{}/versions", segment(&name)), body)
                .await?
        }
        ModelsCommand::Promote {
            name,
            version,
            stage,
            reason,
            archive_existing,
        } => {
            let body = json!({ "stage": stage, "reason": reason, "archive_existing": archive_existing });
            api.post(
                &format!("/models/{}/versions/{version}/stage", segment(&name)),
                body,
            )
            .await?
        }
        ModelsCommand::Alias {
            name,
            alias,
            version,
            reason,
        } => {
            let body = json!({ "version": version, "reason": reason });
            api.put(
                &format!("/models/{}/aliases/{}", segment(&name), segment(&alias)),
                body,
            )
            .await?
        }
        ModelsCommand::Audit { name } => api.get(&format!("/models/{}/audit", segment(&name))).await?,
        ModelsCommand::Delete { name } => api.delete(&format!("/models/{}", segment(&name))).await?,
    };
    print(&answer)
}

/// `view:feature=NUMBER`, as `--default` takes it.
fn input_default(text: &str) -> Result<(String, f64), String> {
    let (input, value) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("'{text}': write the default as view:feature=NUMBER"))?;
    let value: f64 = value
        .parse()
        .map_err(|_| format!("'{text}': the default after '=' must be a number"))?;
    Ok((input.to_owned(), value))
}
