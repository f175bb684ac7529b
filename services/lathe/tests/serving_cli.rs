//! Serving from the command line against `lathe standalone`: a scikit-learn logistic
//! regression exported to ONNX is registered with its signature (`lathe models register
//! --input`), deployed (`lathe deploy`), listed (`lathe deployments`), asked for one
//! prediction (`lathe predict --entity … --feature …`) that equals scikit-learn's own answer,
//! and undeployed. (Features read online, batch scoring and the 422 of a missing input are
//! tested through gRPC and REST in `tests/tests/serving.rs`.)

mod common;

use common::{lathe, standalone_with_project, terminate};

const INPUTS: [&str; 3] = ["driver_stats:f0", "driver_stats:f1", "driver_stats:f2"];

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../serving/tests/fixtures")
        .join(name)
}

/// Runs a client subcommand against `url`; its stdout, or its stderr on failure.
fn client(dir: &std::path::Path, url: &str, token: &str, args: &[&str]) -> Result<String, String> {
    let output = lathe(dir)
        .env("LATHE_URL", url)
        .env("LATHE_TOKEN", token)
        .env("LATHE_PROJECT", "churn")
        .args(args)
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

#[tokio::test]
async fn deploy_predict_and_undeploy_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url, admin) = standalone_with_project(dir.path(), "churn").await;
    let d = dir.path();
    let cli = |args: &[&str]| client(d, &url, &admin, args);

    let experiment = json(&cli(&["experiments", "create", "serving"]).unwrap());
    let experiment = experiment["experiment_id"].as_str().unwrap().to_owned();
    let run = json(&cli(&["runs", "create", "--experiment", &experiment]).unwrap());
    let run = run["run_id"].as_str().unwrap().to_owned();
    let model = fixture("logreg.onnx");
    cli(&[
        "runs",
        "upload",
        &run,
        model.to_str().unwrap(),
        "--path",
        "model/model.onnx",
    ])
    .unwrap();
    cli(&["models", "create", "churn"]).unwrap();
    let mut register = vec![
        "models",
        "register",
        "churn",
        "--run",
        &run,
        "--artifact-path",
        "model",
    ];
    for input in INPUTS {
        register.extend(["--input", input]);
    }
    register.extend(["--output", "churned", "--default", "driver_stats:f2=0.25"]);
    let version = json(&cli(&register).unwrap());
    assert_eq!(
        version["signature"]["inputs"],
        serde_json::json!(INPUTS),
        "{version}"
    );
    assert_eq!(
        version["signature"]["defaults"]["driver_stats:f2"], 0.25,
        "{version}"
    );
    cli(&["models", "alias", "churn", "champion", "1"]).unwrap();

    let deployed = json(&cli(&["deploy", "churn", "--json"]).unwrap());
    assert_eq!(deployed["serving"]["version"], 1, "{deployed}");
    let listed = cli(&["deployments"]).unwrap();
    assert!(listed.contains("churn@champion v1"), "{listed}");

    // The fixture's first row, given with the request: scikit-learn's label and probabilities.
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap();
    let row: Vec<f64> = serde_json::from_value(expected["rows"][0].clone()).unwrap();
    let features: Vec<String> = INPUTS
        .iter()
        .zip(&row)
        .map(|(input, value)| format!("{input}={value}"))
        .collect();
    let mut predict = vec!["predict", "--deployment", "churn", "--entity", "driver_id=1001"];
    for feature in &features {
        predict.extend(["--feature", feature.as_str()]);
    }
    let answer = json(&cli(&predict).unwrap());
    let prediction = &answer["predictions"][0];
    assert_eq!(prediction["version"], 1, "{answer}");
    assert_eq!(
        prediction["label"],
        expected["models"]["logreg"]["labels"][0].to_string(),
        "{answer}"
    );
    let sklearn = expected["models"]["logreg"]["probabilities"][0]
        .as_array()
        .unwrap();
    for (ours, theirs) in prediction["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .zip(sklearn)
    {
        assert!(
            (ours.as_f64().unwrap() - theirs.as_f64().unwrap()).abs() < 1e-5,
            "{answer}"
        );
    }

    // Without the features they are read online, and this project has no such view: the
    // feature-service's 404 comes back naming it.
    let missing = cli(&["predict", "--deployment", "churn", "--entity", "driver_id=1001"]).unwrap_err();
    assert!(
        missing.contains("404") && missing.contains("'driver_stats'"),
        "{missing}"
    );

    cli(&["undeploy", "churn"]).unwrap();
    let gone = cli(&["deployments", "churn"]).unwrap_err();
    assert!(gone.contains("404"), "{gone}");
    assert!(terminate(child).success());
}
