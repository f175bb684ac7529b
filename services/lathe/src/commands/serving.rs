//! `lathe deploy|undeploy|deployments|predict`: models served by a running Lathe. Deployments
//! print as text for people or as the API's JSON with `--json`; `predict` scores an entity
//! file into a Parquet file (batch) or predicts for one entity given on the command line and
//! prints the API's JSON (online).

use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args};
use serde_json::{Map, Value, json};

use super::{Api, BoxError, key_value, print, segment};

/// `lathe deploy`.
#[derive(Args)]
#[command(group(ArgGroup::new("challenger_mode").args(["canary", "shadow"])))]
pub struct DeployArgs {
    /// The registered model to serve.
    pub model: String,
    /// The deployment's name, used in predict URLs (default: the model's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The alias the deployment follows; serving switches when it moves (default `champion`).
    #[arg(long)]
    pub alias: Option<String>,
    /// Another alias of the model to serve as a challenger, with --canary or --shadow.
    #[arg(long, requires = "challenger_mode")]
    pub challenger: Option<String>,
    /// The challenger answers this percentage of the requests (1 to 99).
    #[arg(long, value_name = "PERCENT", requires = "challenger", value_parser = clap::value_parser!(u32).range(1..=99))]
    pub canary: Option<u32>,
    /// The challenger scores every request; its answers are logged, never returned.
    #[arg(long, requires = "challenger")]
    pub shadow: bool,
    /// Log predictions to this monitor of the project.
    #[arg(long)]
    pub monitor: Option<String>,
    /// The share of predictions logged, in (0, 1] (default 1).
    #[arg(long, value_name = "RATE", requires = "monitor", value_parser = sample_rate)]
    pub sample_rate: Option<f64>,
}

impl DeployArgs {
    /// The body of `POST …/deployments`; unset options are left to the server's defaults.
    fn body(&self) -> Value {
        let challenger = self.challenger.as_ref().map(|alias| match self.canary {
            Some(percent) => json!({ "alias": alias, "mode": "canary", "traffic_percent": percent }),
            None => json!({ "alias": alias, "mode": "shadow" }),
        });
        json!({
            "model": self.model,
            "name": self.name,
            "alias": self.alias,
            "challenger": challenger,
            "monitor": self.monitor,
            "sample_rate": self.sample_rate,
        })
    }
}

/// A sample rate in (0, 1].
fn sample_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate <= 1.0 => Ok(rate),
        Ok(_) | Err(_) => Err(format!("'{text}' is not a share in (0, 1], e.g. 0.1")),
    }
}

/// `lathe predict`.
#[derive(Args)]
#[command(group(ArgGroup::new("input").required(true).args(["entities", "entity"])))]
pub struct PredictArgs {
    /// The deployment that predicts.
    #[arg(long)]
    pub deployment: String,
    /// Batch: an entity file (Parquet, or `.csv`) with the join keys and `event_timestamp`;
    /// each row is scored on its features as of its timestamp.
    #[arg(long, requires = "out", conflicts_with = "entity", value_name = "FILE")]
    pub entities: Option<PathBuf>,
    /// Batch: where to write the scored rows (Parquet).
    #[arg(long, requires = "entities", conflicts_with = "entity", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Online: a join key of the one entity to predict for, as KEY=VALUE; repeat for each key.
    /// A value that reads as a JSON number, boolean or quoted string is that; anything else is
    /// text.
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    pub entity: Vec<(String, String)>,
    /// Online: a request-time input value, as VIEW:FEATURE=NUMBER, used instead of the online
    /// store's; repeatable.
    #[arg(long = "feature", value_name = "VIEW:FEATURE=NUMBER", requires = "entity", value_parser = request_feature)]
    pub features: Vec<(String, f64)>,
    /// Online: also answer the input values the prediction used.
    #[arg(long, requires = "entity")]
    pub include_features: bool,
}

/// A `view:feature=number` argument.
fn request_feature(text: &str) -> Result<(String, f64), String> {
    let (name, value) = key_value(text)?;
    let value = value
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("'{text}': the value of {name} is not a number"))?;
    Ok((name, value))
}

/// An entity key's value from the command line: a JSON number, boolean or quoted string as
/// that, anything else as text (so `driver_id=1001` is a number, `city=Paris` and `id="007"`
/// texts).
fn entity_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => value,
        Ok(Value::Null | Value::Array(_) | Value::Object(_)) | Err(_) => Value::String(text.to_owned()),
    }
}

impl PredictArgs {
    /// The body of `POST …/predict/{deployment}` for the one entity of `--entity`.
    fn online_body(&self) -> Value {
        let entities: Map<String, Value> = self
            .entity
            .iter()
            .map(|(key, value)| (key.clone(), json!([entity_value(value)])))
            .collect();
        let request_features: Map<String, Value> = self
            .features
            .iter()
            .map(|(name, value)| (name.clone(), json!([value])))
            .collect();
        json!({
            "entities": entities,
            "request_features": request_features,
            "include_features": self.include_features,
        })
    }
}

pub async fn deploy(api: &Api, args: DeployArgs, as_json: bool) -> Result<(), BoxError> {
    let answer = api.post("/deployments", args.body()).await?;
    show(&answer, as_json, render_deployment)
}

pub async fn undeploy(api: &Api, name: String) -> Result<(), BoxError> {
    api.delete(&format!("/deployments/{}", segment(&name))).await?;
    println!("undeployed {name}");
    Ok(())
}

pub async fn deployments(api: &Api, name: Option<String>, as_json: bool) -> Result<(), BoxError> {
    match name {
        Some(name) => {
            let answer = api.get(&format!("/deployments/{}", segment(&name))).await?;
            show(&answer, as_json, render_deployment)
        }
        None => {
            let answer = api.every_page("/deployments", "deployments").await?;
            show(&answer, as_json, render_deployments)
        }
    }
}

pub async fn predict(api: &Api, args: PredictArgs) -> Result<(), BoxError> {
    match (&args.entities, &args.out) {
        (Some(entities), Some(out)) => batch(api, &args.deployment, entities, out).await,
        // clap's groups leave `--entity` as the only other input.
        (None, None) | (Some(_), None) | (None, Some(_)) => {
            let path = format!("/predict/{}", segment(&args.deployment));
            print(&api.post(&path, args.online_body()).await?)
        }
    }
}

/// Sends the entity file to the batch route and writes the scored Parquet to `out` (whole or
/// not at all).
async fn batch(api: &Api, deployment: &str, entities: &Path, out: &Path) -> Result<(), BoxError> {
    let frame = std::fs::read(entities).map_err(|e| format!("{}: {e}", entities.display()))?;
    let content_type = if entities
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        "text/csv"
    } else {
        "application/vnd.apache.parquet"
    };
    let request = api
        .request(
            reqwest::Method::POST,
            &format!("/predict/{}/batch", segment(deployment)),
        )
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(frame);
    let response = Api::successful(request.send().await?).await?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_owned()
    };
    let (rows, version) = (header("x-lathe-rows"), header("x-lathe-version"));
    let bytes = response.bytes().await?;
    let partial = out.with_extension("part");
    std::fs::write(&partial, &bytes).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, out).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "scored {rows} rows with {deployment} v{version} into {}",
        out.display()
    );
    Ok(())
}

fn show(answer: &Value, as_json: bool, render: fn(&Value) -> String) -> Result<(), BoxError> {
    if as_json {
        print(answer)
    } else {
        println!("{}", render(answer));
        Ok(())
    }
}

fn render_deployments(answer: &Value) -> String {
    let lines: Vec<String> = answer["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(render_deployment)
        .collect();
    if lines.is_empty() {
        "no deployments".to_owned()
    } else {
        lines.join("\n")
    }
}

/// `name: model@alias v3 [+ challenger@alias v4 canary 10%] [→ monitor m (sample 0.1)]`, then
/// the reason the alias's latest version is not served, if any.
fn render_deployment(deployment: &Value) -> String {
    let text = |value: &Value, field: &str| value[field].as_str().unwrap_or_default().to_owned();
    let version = |served: &Value| {
        served["version"]
            .as_u64()
            .map_or_else(|| "(nothing loaded)".to_owned(), |v| format!("v{v}"))
    };
    let model = text(deployment, "model");
    let mut line = format!(
        "{}: {model}@{} {}",
        text(deployment, "name"),
        text(deployment, "alias"),
        version(&deployment["serving"])
    );
    let challenger = &deployment["challenger"];
    if challenger.is_object() {
        let mode = match text(challenger, "mode").as_str() {
            "canary" => format!("canary {}%", challenger["traffic_percent"]),
            other => other.to_owned(),
        };
        line.push_str(&format!(
            ", challenger {model}@{} {} ({mode})",
            text(challenger, "alias"),
            version(&deployment["challenger_serving"])
        ));
    }
    let monitor = text(deployment, "monitor");
    if !monitor.is_empty() {
        let rate = deployment["sample_rate"].as_f64().unwrap_or(1.0);
        line.push_str(&format!(", logged to {monitor} (sample {rate})"));
    }
    let error = text(deployment, "last_error");
    if !error.is_empty() {
        line.push_str(&format!("\n  latest version not served: {error}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::follow_pages;
    use super::*;

    #[derive(Parser)]
    struct Deploy {
        #[command(flatten)]
        args: DeployArgs,
    }

    #[derive(Parser)]
    struct Predict {
        #[command(flatten)]
        args: PredictArgs,
    }

    fn deploy(args: &[&str]) -> Result<Value, clap::Error> {
        Deploy::try_parse_from(std::iter::once("deploy").chain(args.iter().copied())).map(|d| d.args.body())
    }

    fn predict(args: &[&str]) -> Result<PredictArgs, clap::Error> {
        Predict::try_parse_from(std::iter::once("predict").chain(args.iter().copied())).map(|p| p.args)
    }

    #[test]
    fn deploy_leaves_unset_options_to_the_server() {
        let body = deploy(&["churn"]).unwrap();
        assert_eq!(body["model"], "churn");
        for field in ["name", "alias", "challenger", "monitor", "sample_rate"] {
            assert!(body[field].is_null(), "{field}: {body}");
        }
    }

    #[test]
    fn a_challenger_is_a_canary_with_its_share_or_a_shadow() {
        let canary = deploy(&[
            "churn",
            "--name",
            "churn-live",
            "--alias",
            "champion",
            "--challenger",
            "challenger",
            "--canary",
            "10",
        ])
        .unwrap();
        assert_eq!(canary["name"], "churn-live");
        assert_eq!(
            canary["challenger"],
            json!({ "alias": "challenger", "mode": "canary", "traffic_percent": 10 })
        );
        let shadow = deploy(&["churn", "--challenger", "next", "--shadow"]).unwrap();
        assert_eq!(shadow["challenger"], json!({ "alias": "next", "mode": "shadow" }));
    }

    #[test]
    fn a_challenger_needs_exactly_one_mode_and_a_mode_needs_a_challenger() {
        assert!(deploy(&["churn", "--challenger", "next"]).is_err());
        assert!(deploy(&["churn", "--challenger", "next", "--canary", "10", "--shadow"]).is_err());
        assert!(deploy(&["churn", "--canary", "10"]).is_err());
        assert!(deploy(&["churn", "--shadow"]).is_err());
        for out_of_range in ["0", "100"] {
            assert!(deploy(&["churn", "--challenger", "next", "--canary", out_of_range]).is_err());
        }
    }

    #[test]
    fn a_sample_rate_is_a_share_of_a_monitor_s_predictions() {
        let body = deploy(&["churn", "--monitor", "drift", "--sample-rate", "0.25"]).unwrap();
        assert_eq!(
            (body["monitor"].as_str(), body["sample_rate"].as_f64()),
            (Some("drift"), Some(0.25))
        );
        for refused in ["0", "1.5", "-0.1", "half"] {
            assert!(
                deploy(&["churn", "--monitor", "drift", "--sample-rate", refused]).is_err(),
                "{refused}"
            );
        }
        assert!(
            deploy(&["churn", "--sample-rate", "0.5"]).is_err(),
            "no monitor to log to"
        );
    }

    #[test]
    fn predict_is_a_batch_file_or_one_online_entity() {
        let batch = predict(&[
            "--deployment",
            "churn",
            "--entities",
            "e.csv",
            "--out",
            "s.parquet",
        ])
        .unwrap();
        assert_eq!(batch.entities, Some(PathBuf::from("e.csv")));
        assert!(predict(&["--deployment", "churn"]).is_err(), "no input");
        assert!(
            predict(&["--deployment", "churn", "--entities", "e.csv"]).is_err(),
            "no --out"
        );
        assert!(predict(&["--deployment", "churn", "--out", "s.parquet", "--entity", "id=1"]).is_err());
        assert!(
            predict(&[
                "--deployment",
                "churn",
                "--entities",
                "e.csv",
                "--out",
                "s",
                "--entity",
                "id=1"
            ])
            .is_err()
        );
        assert!(
            predict(&["--deployment", "churn", "--entity", "id"]).is_err(),
            "not key=value"
        );
    }

    #[test]
    fn an_online_entity_becomes_one_row_of_typed_json_values() {
        let args = predict(&[
            "--deployment",
            "eta",
            "--entity",
            "driver_id=1001",
            "--entity",
            "city=Paris",
            "--entity",
            "code=\"007\"",
            "--entity",
            "vip=true",
            "--feature",
            "driver_hourly_stats:conv_rate=0.5",
            "--include-features",
        ])
        .unwrap();
        assert_eq!(
            args.online_body(),
            json!({
                "entities": { "driver_id": [1001], "city": ["Paris"], "code": ["007"], "vip": [true] },
                "request_features": { "driver_hourly_stats:conv_rate": [0.5] },
                "include_features": true,
            })
        );
        assert!(
            predict(&["--deployment", "eta", "--entity", "id=1", "--feature", "v:f=high"]).is_err(),
            "a request feature is a number"
        );
    }

    #[tokio::test]
    async fn the_list_follows_every_page_in_order() {
        let pages = [
            json!({ "deployments": [{ "name": "a" }, { "name": "b" }], "next_page_token": "t1" }),
            json!({ "deployments": [{ "name": "c" }, { "name": "d" }], "next_page_token": "t2" }),
            json!({ "deployments": [{ "name": "e" }], "next_page_token": "" }),
        ];
        let mut asked = Vec::new();
        let all = follow_pages("deployments", |token| {
            let answer = pages[asked.len()].clone();
            asked.push(token);
            async move { Ok(answer) }
        })
        .await
        .unwrap();
        assert_eq!(asked, ["", "t1", "t2"]);
        let names: Vec<&str> = all["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert_eq!(
            render_deployments(&all).lines().count(),
            5,
            "{}",
            render_deployments(&all)
        );
    }

    #[tokio::test]
    async fn a_list_ends_at_an_empty_token_and_fails_on_a_token_answered_twice() {
        let again = follow_pages("deployments", |_| async {
            Ok(json!({ "deployments": [{ "name": "a" }], "next_page_token": "t1" }))
        })
        .await;
        let mut calls = 0;
        let empty = follow_pages("deployments", |_| {
            calls += 1;
            async { Ok(json!({ "deployments": [] })) }
        })
        .await
        .unwrap();
        assert!(again.is_err());
        assert_eq!(
            (calls, empty),
            (1, json!({ "deployments": [], "next_page_token": "" }))
        );
    }

    #[test]
    fn a_deployment_reads_as_one_line_with_what_it_serves() {
        let deployment = json!({
            "name": "churn-live", "model": "churn", "alias": "champion",
            "serving": { "version": 3 },
            "challenger": { "alias": "challenger", "mode": "canary", "traffic_percent": 10 },
            "challenger_serving": { "version": 4 },
            "monitor": "churn-drift", "sample_rate": 0.1,
            "last_error": "",
        });
        assert_eq!(
            render_deployment(&deployment),
            "churn-live: churn@champion v3, challenger churn@challenger v4 (canary 10%), logged to churn-drift (sample 0.1)"
        );
        let failing = json!({
            "name": "churn", "model": "churn", "alias": "champion", "serving": null,
            "challenger": null, "monitor": "", "last_error": "model.onnx is missing",
        });
        assert_eq!(
            render_deployment(&failing),
            "churn: churn@champion (nothing loaded)\n  latest version not served: model.onnx is missing"
        );
        assert_eq!(
            render_deployments(&json!({ "deployments": [] })),
            "no deployments"
        );
    }
}
