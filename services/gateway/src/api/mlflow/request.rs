//! How an MLflow request is read: the caller and project from the bearer token ([`Mlflow`]),
//! the fields of a GET from the query string ([`QueryFields`]) and those of a POST, PATCH or
//! DELETE from a JSON body ([`json_body`]), each failure in MLflow's error shape.

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use lathe_common::auth::Claims;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};

use super::error::MlflowError;
use crate::auth::{self, Needs};
use crate::settings::GatewaySettings;

/// A caller with at least role `R` over the project MLflow's calls work in: the token's one
/// project when it names exactly one, else `gateway.mlflow_project` (403 unless the token
/// covers it).
pub struct Mlflow<R> {
    pub claims: Claims,
    pub project: String,
    role: PhantomData<R>,
}

impl<R: Needs> FromRequest for Mlflow<R> {
    type Error = MlflowError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(caller(req))
    }
}

fn caller<R: Needs>(req: &HttpRequest) -> Result<Mlflow<R>, MlflowError> {
    let auth::Authenticated(claims) = auth::authenticate(req)?;
    claims.require_role(R::ROLE)?;
    let project = match claims.projects.as_slice() {
        [only] if only != "*" => only.clone(),
        _ => req
            .app_data::<web::Data<GatewaySettings>>()
            .map(|settings| settings.mlflow_project.clone())
            .ok_or_else(|| lathe_common::Error::internal("the gateway settings are not configured"))?,
    };
    claims.require_project(&project)?;
    Ok(Mlflow {
        claims,
        project,
        role: PhantomData,
    })
}

impl<R> Mlflow<R> {
    /// The caller's subject, recorded as a run's user when the request names none.
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }
}

/// The fields of a GET request's query string; a repeated key is a list.
pub struct QueryFields(Vec<(String, String)>);

impl QueryFields {
    pub fn of(req: &HttpRequest) -> Result<QueryFields, MlflowError> {
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(|query| QueryFields(query.into_inner()))
            .map_err(|err| MlflowError::invalid(format!("invalid query string: {err}")))
    }

    /// The first value of `key`, if present and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The value of `key`, which MLflow requires.
    pub fn require(&self, key: &str) -> Result<&str, MlflowError> {
        self.get(key).ok_or_else(|| MlflowError::missing(key))
    }

    /// `run_id`, or the legacy `run_uuid` the client sends beside it.
    pub fn run_id(&self) -> Result<&str, MlflowError> {
        self.get("run_id")
            .or_else(|| self.get("run_uuid"))
            .ok_or_else(|| MlflowError::missing("run_id"))
    }

    /// The integer value of `key`, if present.
    pub fn int(&self, key: &str) -> Result<Option<i64>, MlflowError> {
        self.get(key)
            .map(|value| {
                value.parse().map_err(|_| {
                    MlflowError::invalid(format!(
                        "Invalid value '{value}' for parameter '{key}': expected an integer"
                    ))
                })
            })
            .transpose()
    }
}

/// The JSON body of a POST, PATCH or DELETE, which MLflow requires to be `application/json`.
pub fn json_body<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, MlflowError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(MlflowError::invalid(
            "Content-Type must be one of ['application/json']",
        ));
    }
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|err| MlflowError::invalid(format!("Invalid JSON body: {err}")))
}

/// A required string field of a body: present and not empty.
pub fn required(value: Option<String>, field: &str) -> Result<String, MlflowError> {
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| MlflowError::missing(field))
}

/// 200 with `answer` as the JSON body.
pub fn answer<T: Serialize>(body: &T) -> Result<HttpResponse, MlflowError> {
    Ok(HttpResponse::Ok().json(body))
}

/// 200 with `{}`, MLflow's "no content".
pub fn empty() -> Result<HttpResponse, MlflowError> {
    Ok(HttpResponse::Ok().content_type("application/json").body("{}"))
}

/// An int64 field, which proto3 JSON may send as a number or as a numeric string.
pub fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Number(i64),
        Text(String),
    }
    match Option::<Int>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Int::Number(n)) => Ok(Some(n)),
        Some(Int::Text(text)) if text.is_empty() => Ok(None),
        Some(Int::Text(text)) => text
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, got '{text}'"))),
    }
}

/// A double field, which proto3 JSON may send as a number or as `"NaN"`, `"Infinity"`, …
pub fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Float {
        Number(f64),
        Text(String),
    }
    match Option::<Float>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Float::Number(n)) => Ok(Some(n)),
        Some(Float::Text(text)) => text
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected a number, got '{text}'"))),
    }
}

/// A `{"key", "value"}` entry: how MLflow sends params and tags.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct KeyValue {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// The value of the entry `key` among `entries`, if any.
pub fn value_of<'a>(entries: &'a [KeyValue], key: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|entry| entry.key == key)
        .map(|entry| entry.value.as_str())
}
