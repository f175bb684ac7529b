//! The harness of the end-to-end tests: the whole platform, as `lathe standalone` composes
//! it, started in-process on ephemeral loopback ports against real backends.

use std::time::Duration;

use lathe::{Platform, PlatformSettings};
use lathe_common::auth::{Role, Signer};
use lathe_common::config::{Config, Secret};
use lathe_testkit::PgDatabase;

/// The HS256 secret of test platforms.
pub const SECRET: &str = "lathe-tests-secret-0123456789abcdef";

/// Where the services keep their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite files and a local directory: the defaults.
    Embedded,
    /// PostgreSQL and the S3-compatible test server: a production deployment.
    Production,
}

pub struct TestPlatform {
    pub platform: Platform,
    pub url: String,
    pub http: reqwest::Client,
    signer: Signer,
    pub data_dir: tempfile::TempDir,
    pub settings: PlatformSettings,
}

/// Embedded settings in `data_dir`, on ephemeral ports, with the test secret.
pub fn embedded_settings(data_dir: &std::path::Path) -> PlatformSettings {
    let mut settings = PlatformSettings::from_config(&Config::from_toml("")).expect("defaults are valid");
    settings.common.data_dir = data_dir.to_owned();
    settings.common.auth.jwt_secret = Some(Secret::new(SECRET));
    settings.common.telemetry.log_filter = "warn".to_owned();
    settings.on_ephemeral_ports()
}

impl TestPlatform {
    /// The platform on SQLite and local files.
    pub async fn embedded() -> TestPlatform {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = embedded_settings(dir.path());
        TestPlatform::start(settings, dir).await
    }

    /// The platform on `backend`, or `None` when skipping. In production mode every service
    /// shares one fresh PostgreSQL database (as in the dev stack) and keeps its objects under
    /// its own fresh prefix of the S3 test bucket, and the gateway reaches the services over
    /// loopback gRPC as separate processes would (embedded mode: in-process channels, the
    /// standalone default), so the suites run through both transports.
    pub async fn on(backend: Backend) -> Option<(TestPlatform, Option<PgDatabase>)> {
        TestPlatform::on_with(backend, |_| {}).await
    }

    /// As [`TestPlatform::on`], with the settings changed by `adjust` before the start.
    pub async fn on_with(
        backend: Backend,
        adjust: impl FnOnce(&mut PlatformSettings),
    ) -> Option<(TestPlatform, Option<PgDatabase>)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = embedded_settings(dir.path());
        let pg = match backend {
            Backend::Embedded => None,
            Backend::Production => {
                let pg = PgDatabase::create().await?;
                settings.standalone.in_process = false;
                for service in [
                    &mut settings.registry,
                    &mut settings.features.service,
                    &mut settings.orchestrator.service,
                    &mut settings.monitor.service,
                    &mut settings.serving.service,
                ] {
                    service.database.url = Some(pg.url.clone());
                    service.object_store = lathe_testkit::S3Location::fresh()?.settings;
                }
                // Redis keeps online features, under a prefix of this test's own.
                settings.features.online_store.url = Some(
                    std::env::var("LATHE_TEST_REDIS_URL")
                        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
                );
                settings.features.online_store.key_prefix = format!(
                    "lathe_test_{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos())
                );
                Some(pg)
            }
        };
        adjust(&mut settings);
        Some((TestPlatform::start(settings, dir).await, pg))
    }

    pub async fn start(settings: PlatformSettings, data_dir: tempfile::TempDir) -> TestPlatform {
        let signer = Signer::from_settings(&settings.common.auth, &settings.common.data_dir).expect("signer");
        let platform = lathe::start(settings.clone()).await.expect("platform starts");
        let url = platform.url();
        // The gateway (actix-web) closes a connection idle for 5 s; a pooled connection reused
        // at that moment fails with IncompleteMessage. Idle ones are dropped here first.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let test = TestPlatform {
            platform,
            url,
            http,
            signer,
            data_dir,
            settings,
        };
        test.wait_ready().await;
        test
    }

    /// Polls `/readyz` until every backend serves (bounded).
    pub async fn wait_ready(&self) {
        for _ in 0..100 {
            if let Ok(response) = self.http.get(format!("{}/readyz", self.url)).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("platform at {} never became ready", self.url);
    }

    /// A valid token for `subject` with `role` over `projects` (`*` for all).
    pub fn token(&self, role: Role, projects: &[&str]) -> String {
        self.token_with_roles(&[role], projects)
    }

    /// A valid token with any set of roles (possibly none).
    pub fn token_with_roles(&self, roles: &[Role], projects: &[&str]) -> String {
        let projects: Vec<String> = projects.iter().map(|p| (*p).to_owned()).collect();
        self.signer
            .sign("tester", roles, &projects, Duration::from_secs(600))
            .expect("sign")
    }

    /// A valid token of `subject` with `role` over every project.
    pub fn token_of(&self, subject: &str, role: Role) -> String {
        self.signer
            .sign(subject, &[role], &["*".to_owned()], Duration::from_secs(600))
            .expect("sign")
    }

    /// A gRPC channel to a service (by settings section) whose every call carries `token`, as
    /// another service or a script calling Lathe's gRPC API would send it.
    pub async fn grpc_channel(&self, service: &str, token: &str) -> GrpcChannel {
        let channel = tonic::transport::Endpoint::from_shared(self.grpc_endpoint(service))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        tonic::service::interceptor::InterceptedService::new(channel, Bearer::new(token))
    }

    /// The registry's own object store, opened from the same settings the service uses.
    pub fn registry_objects(&self) -> std::sync::Arc<dyn object_store::ObjectStore> {
        let settings = &self.settings.registry.object_store;
        let url = lathe_common::storage::resolve_url(settings, &self.settings.common.data_dir, "registry")
            .expect("registry object store URL");
        lathe_common::storage::open(&url, settings, "registry.object_store").expect("registry object store")
    }

    /// The orchestrator's object store (task logs and artifacts).
    pub fn orchestrator_objects(&self) -> std::sync::Arc<dyn object_store::ObjectStore> {
        let settings = &self.settings.orchestrator.service.object_store;
        let url =
            lathe_common::storage::resolve_url(settings, &self.settings.common.data_dir, "orchestrator")
                .expect("orchestrator object store URL");
        lathe_common::storage::open(&url, settings, "orchestrator.object_store")
            .expect("orchestrator object store")
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin, &["*"])
    }

    /// The gateway's OpenAPI document.
    pub async fn openapi_document(&self) -> serde_json::Value {
        self.http
            .get(format!("{}/api-docs/openapi.json", self.url))
            .send()
            .await
            .expect("GET /api-docs/openapi.json")
            .json()
            .await
            .expect("the OpenAPI document is JSON")
    }

    pub fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.url)).bearer_auth(token)
    }

    /// One page of a list route: `path` (no query) with `page_size` and, unless empty, `token`;
    /// the JSON answer, which must be a 200.
    pub async fn list_page(
        &self,
        path: &str,
        token: &str,
        page_size: u32,
        page_token: &str,
    ) -> serde_json::Value {
        let mut url = format!("{}{path}?page_size={page_size}", self.url);
        if !page_token.is_empty() {
            url.push_str(&format!("&page_token={page_token}"));
        }
        let response = self.http.get(url).bearer_auth(token).send().await.expect(path);
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).expect("JSON")
    }

    /// Every page of the list `path` by pages of `page_size`, following `next_page_token` to
    /// the end: the names of the `field` items in order, and each page's size.
    pub async fn page_names(
        &self,
        path: &str,
        token: &str,
        field: &str,
        page_size: u32,
    ) -> (Vec<String>, Vec<usize>) {
        let (mut names, mut sizes, mut next) = (Vec::new(), Vec::new(), String::new());
        loop {
            let answer = self.list_page(path, token, page_size, &next).await;
            let page = names_of(&answer, field);
            sizes.push(page.len());
            names.extend(page);
            next = answer["next_page_token"]
                .as_str()
                .expect("next_page_token")
                .to_owned();
            if next.is_empty() {
                return (names, sizes);
            }
            assert!(sizes.len() < 1000, "the pages of {path} never end: {answer:#}");
        }
    }

    /// POSTs a CSV entity frame to `project`'s training-set route (`query`: `features=…` or
    /// `feature_service=…`) as an admin.
    pub async fn historical_csv(&self, project: &str, query: &str, csv: String) -> reqwest::Response {
        self.http
            .post(format!(
                "{}/api/v1/projects/{project}/features/historical?{query}",
                self.url
            ))
            .bearer_auth(self.admin())
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("POST …/features/historical")
    }

    pub fn post(&self, path: &str, token: &str, body: &serde_json::Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
    }

    /// POSTs `body` and returns the JSON answer, whatever its status.
    pub async fn post_json(&self, path: &str, token: &str, body: &serde_json::Value) -> serde_json::Value {
        self.post(path, token, body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn put(&self, path: &str, token: &str, body: &serde_json::Value) -> reqwest::RequestBuilder {
        self.http
            .put(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
    }

    /// gRPC endpoint of a service, by settings section.
    pub fn grpc_endpoint(&self, service: &str) -> String {
        format!(
            "http://{}",
            self.platform.grpc_addr(service).expect("known service")
        )
    }

    /// Creates a project as admin and asserts it worked.
    pub async fn create_project(&self, name: &str) {
        let response = self
            .post(
                "/api/v1/projects",
                &self.admin(),
                &serde_json::json!({ "name": name }),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }

    pub async fn shutdown(self) -> tempfile::TempDir {
        self.platform.shutdown().await;
        self.data_dir
    }
}

/// A gRPC channel that sends a bearer token with every call.
pub type GrpcChannel = tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to each call.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Bearer {
    pub fn new(token: &str) -> Bearer {
        Bearer(format!("Bearer {token}").parse().expect("a token is ASCII"))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The keys of the objects under `prefix` in `store`.
pub async fn objects_under(store: &dyn object_store::ObjectStore, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    store
        .list(Some(&object_store::path::Path::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list objects")
}

/// Reads a JSON error body and returns (status, code).
/// The `name` of each item of a list answer's `field`.
pub fn names_of(answer: &serde_json::Value, field: &str) -> Vec<String> {
    answer[field]
        .as_array()
        .unwrap_or_else(|| panic!("no list {field} in {answer}"))
        .iter()
        .map(|item| item["name"].as_str().expect("a name").to_owned())
        .collect()
}

pub async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    let code = body["code"].as_str().expect("error body has a code").to_owned();
    let message = body["message"]
        .as_str()
        .expect("error body has a message")
        .to_owned();
    assert!(body["type"].is_string(), "error body has a type: {body}");
    (status, code, message)
}

/// Convenience for role-scoped tokens in tests.
pub use lathe_common::auth::Role as TokenRole;

/// A filter exactly at every limit of the filter language: the most conditions, comparing with
/// the most values in all, the first IN lists full, padded with spaces to the most characters.
/// A run passes it when it logged `accuracy >= 0.5` and `solver = 'lbfgs'`.
pub fn filter_at_the_limits() -> String {
    use lathe_registry_service::domain::filter::{
        MAX_FILTER_CHARS, MAX_FILTER_CONDITIONS, MAX_FILTER_VALUES, MAX_IN_LIST_ITEMS,
    };
    let mut extra_values = MAX_FILTER_VALUES - MAX_FILTER_CONDITIONS;
    let mut conditions = Vec::new();
    for _ in 0..MAX_FILTER_CONDITIONS {
        let more = extra_values.min(MAX_IN_LIST_ITEMS - 1);
        extra_values -= more;
        conditions.push(if more == 0 {
            "metrics.accuracy >= 0.5".to_owned()
        } else {
            let items: Vec<String> = std::iter::once("'lbfgs'".to_owned())
                .chain((0..more).map(|i| format!("'{i}'")))
                .collect();
            format!("params.solver IN ({})", items.join(", "))
        });
    }
    assert_eq!(extra_values, 0, "the conditions hold every value");
    let mut filter = conditions.join(" and ");
    assert!(filter.len() <= MAX_FILTER_CHARS, "{} characters", filter.len());
    filter.push_str(&" ".repeat(MAX_FILTER_CHARS - filter.len()));
    filter
}

/// A Parquet answer (a training set, a view's rows) read into one batch.
pub fn read_parquet(bytes: &[u8]) -> arrow::array::RecordBatch {
    use arrow::array::RecordBatchReader;

    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(bytes),
    )
    .expect("a Parquet file")
    .build()
    .expect("a Parquet reader");
    let schema = reader.schema();
    let batches: Vec<arrow::array::RecordBatch> = reader.map(|batch| batch.expect("a batch")).collect();
    arrow::compute::concat_batches(&schema, &batches).expect("batches of one schema")
}

/// A record batch as the bytes of one Parquet file (the writer's defaults).
pub fn parquet_bytes(batch: &arrow::array::RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).expect("a Parquet writer");
    writer.write(batch).expect("the batch is written");
    writer.close().expect("the file is finished");
    out
}
