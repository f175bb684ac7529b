//! Client subcommands: they call a running Lathe's REST API with a bearer token and print
//! the JSON it answers, so scripts can pipe them into `jq` (`pipelines` prints text, and its
//! JSON with `--json`).

pub mod features;
pub mod local;
pub mod models;
pub mod monitors;
pub mod pipelines;
pub mod quickstart;
pub mod serving;
pub mod tracking;

use std::time::Duration;

use clap::Args;
use serde_json::Value;

/// Where the API is and who calls it.
#[derive(Args, Clone)]
pub struct Connection {
    /// Base URL of the Lathe gateway.
    #[arg(
        long,
        env = "LATHE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Bearer token (see `lathe token create`).
    #[arg(long, env = "LATHE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Project to act in.
    #[arg(long, env = "LATHE_PROJECT", global = true)]
    pub project: Option<String>,
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An authenticated HTTP client bound to one project.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    project: String,
}

impl Api {
    pub fn new(connection: &Connection) -> Result<Api, BoxError> {
        let token = connection.token.clone().ok_or(
            "no token: pass --token or set LATHE_TOKEN (see `lathe token create`); a command \
                 calling the `lathe standalone` of this machine signs its own when run where the \
                 standalone's data directory is found (the same --config, or the same directory)",
        )?;
        let project = connection
            .project
            .clone()
            .ok_or("no project: pass --project or set LATHE_PROJECT")?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Api {
            http,
            base: connection.url.trim_end_matches('/').to_owned(),
            token,
            project,
        })
    }

    /// The bearer token it calls with.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `/api/v1/projects/<project><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/projects/{}{path}", self.base, self.project)
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.token)
    }

    /// A request to `/api/v1<path>`, outside the project (`/projects`, `/whoami`).
    pub fn root(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends, turns an error body into an error, and returns the JSON answer (`null` for 204).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, BoxError> {
        let text = Api::successful(request.send().await?).await?.text().await?;
        if text.is_empty() {
            Ok(Value::Null)
        } else {
            Ok(serde_json::from_str(&text)?)
        }
    }

    /// The response when its status is a success; otherwise an error made of its error body.
    pub async fn successful(response: reqwest::Response) -> Result<reqwest::Response, BoxError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await?;
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|body| error_detail(&body))
            .unwrap_or(text);
        Err(format!("{status}: {detail}").into())
    }

    pub async fn get(&self, path: &str) -> Result<Value, BoxError> {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    /// Every item of the paged list at `path`, as one answer of the list's shape: the items of
    /// `field` from each page in order, asked for by the server's largest page.
    pub async fn every_page(&self, path: &str, field: &str) -> Result<Value, BoxError> {
        follow_pages(field, |token| {
            let mut request = self
                .request(reqwest::Method::GET, path)
                .query(&[("page_size", LIST_PAGE_SIZE)]);
            if !token.is_empty() {
                request = request.query(&[("page_token", token)]);
            }
            self.send(request)
        })
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, BoxError> {
        self.send(
            self.request(reqwest::Method::POST, path)
                .json(&without_nulls(body)),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Value, BoxError> {
        self.send(
            self.request(reqwest::Method::PATCH, path)
                .json(&without_nulls(body)),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value, BoxError> {
        self.send(
            self.request(reqwest::Method::PUT, path)
                .json(&without_nulls(body)),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, BoxError> {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }
}

/// Drops unset optional fields, so the server applies its defaults.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "serde_json::Value is foreign: only objects and arrays hold nulls to drop"
)]
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// Prints an answer as pretty JSON (nothing for an empty answer).
pub fn print(value: &Value) -> Result<(), BoxError> {
    if !value.is_null() {
        println!("{}", serde_json::to_string_pretty(value)?);
    }
    Ok(())
}

/// `message (code)` of an error body.
pub fn error_detail(body: &Value) -> Option<String> {
    Some(format!(
        "{} ({})",
        body.get("message")?.as_str()?,
        body.get("code")?.as_str()?
    ))
}

/// Parses `key=value` arguments.
pub fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("'{text}' is not key=value"))
}

/// Percent-encodes one path segment.
pub fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The page size the CLI's lists ask for: the server's largest, so most lists take one call.
const LIST_PAGE_SIZE: &str = "1000";

/// Asks `page` for the first page (an empty token), then for each `next_page_token` until one
/// is empty, and gathers the items of `field` in order into one last page,
/// `{field: [...], "next_page_token": ""}`.
pub(crate) async fn follow_pages<F, Fut>(field: &str, mut page: F) -> Result<Value, BoxError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Value, BoxError>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let mut answer = page(token.clone()).await?;
        if let Value::Array(listed) = answer[field].take() {
            items.extend(listed);
        }
        let next = answer["next_page_token"].as_str().unwrap_or_default();
        if next.is_empty() {
            return Ok(serde_json::json!({ field: items, "next_page_token": "" }));
        }
        if next == token {
            // A server that hands back the token it was given would be followed forever.
            return Err(format!("the server answered page token {next} again").into());
        }
        next.clone_into(&mut token);
    }
}
