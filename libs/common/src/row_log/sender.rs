//! The background half of row logging: takes sampled rows off the queue, batches them per
//! project and monitor, and sends each batch with `MonitorService/LogRows` as a service
//! identity holding the editor role on that project only.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lathe_contract::monitor::v1::monitor_service_client::MonitorServiceClient;
use lathe_contract::monitor::v1::{LogFormat, LogRowsRequest};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{FLUSH_EVERY, FLUSH_ROWS, LoggingMetrics, SampledRows};
use crate::auth::{Role, Signer};
use crate::grpc::TracedChannel;

/// Life of a signed token; one is signed per call.
const TOKEN_TTL: Duration = Duration::from_secs(300);
/// A `LogRows` call that takes longer fails (and its rows are counted as failed).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// At shutdown, how long the last batches may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows waiting for their batch to fill or the next flush, per (project, monitor).
type Pending = BTreeMap<(String, String), Vec<serde_json::Value>>;

pub struct LogSender {
    receiver: mpsc::Receiver<SampledRows>,
    queued: Arc<AtomicUsize>,
    client: MonitorServiceClient<TracedChannel>,
    /// Signs the monitor calls' tokens; without one (an RS256 setup with no private key)
    /// every batch fails and is counted.
    signer: Option<Arc<Signer>>,
    metrics: LoggingMetrics,
    /// The subject of the tokens it signs: who logged the rows, in the monitor's logs.
    subject: &'static str,
}

impl LogSender {
    /// A sender of the rows of [`queue`](super::queue)'s `receiver` (`queued` counting them) to
    /// the monitor at `monitor`, signing its tokens as `subject` (`service:feature-service`).
    pub fn new(
        receiver: mpsc::Receiver<SampledRows>,
        queued: Arc<AtomicUsize>,
        monitor: TracedChannel,
        signer: Option<Arc<Signer>>,
        metrics: LoggingMetrics,
        subject: &'static str,
    ) -> LogSender {
        LogSender {
            receiver,
            queued,
            client: MonitorServiceClient::new(monitor),
            signer,
            metrics,
            subject,
        }
    }

    /// Sends batches until `shutdown` resolves, then sends what is left (for a few seconds at most).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut pending = Pending::new();
        // The first flush one period from now, not at once.
        let mut flush = tokio::time::interval_at(tokio::time::Instant::now() + FLUSH_EVERY, FLUSH_EVERY);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                sampled = self.receiver.recv() => match sampled {
                    Some(sampled) => self.take(sampled, &mut pending).await,
                    None => break,
                },
                _ = flush.tick() => self.flush(&mut pending).await,
                () = &mut shutdown => break,
            }
        }
        self.receiver.close();
        let drain = async {
            while let Some(sampled) = self.receiver.recv().await {
                self.take(sampled, &mut pending).await;
            }
            self.flush(&mut pending).await;
        };
        if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
            tracing::warn!(
                subject = self.subject,
                "stopped before the last logged rows were sent"
            );
        }
    }

    /// Adds rows to their batch, sending every full batch.
    async fn take(&self, sampled: SampledRows, pending: &mut Pending) {
        self.queued.fetch_sub(sampled.rows.len(), Ordering::Relaxed);
        let key = (sampled.project, sampled.monitor);
        let batch = pending.entry(key.clone()).or_default();
        batch.extend(sampled.rows);
        while batch.len() >= FLUSH_ROWS {
            let full: Vec<_> = batch.drain(..FLUSH_ROWS).collect();
            self.send(&key.0, &key.1, full).await;
        }
    }

    /// Sends every batch that holds rows.
    async fn flush(&self, pending: &mut Pending) {
        for ((project, monitor), rows) in std::mem::take(pending) {
            if !rows.is_empty() {
                self.send(&project, &monitor, rows).await;
            }
        }
    }

    async fn send(&self, project: &str, monitor: &str, rows: Vec<serde_json::Value>) {
        let count = rows.len() as u64;
        let labels = [project, monitor];
        match self.log_rows(project, monitor, &rows).await {
            Ok(()) => self.metrics.sent.with_label_values(&labels).inc_by(count),
            Err(reason) => {
                self.metrics.failed.with_label_values(&labels).inc_by(count);
                tracing::warn!(
                    subject = self.subject,
                    project,
                    monitor,
                    rows = count,
                    error = %reason,
                    "sending logged rows failed"
                );
            }
        }
    }

    async fn log_rows(&self, project: &str, monitor: &str, rows: &[serde_json::Value]) -> Result<(), String> {
        let signer = self
            .signer
            .as_ref()
            .ok_or("no key to sign the monitor's token with")?;
        let token = signer
            .sign(self.subject, &[Role::Editor], &[project.to_owned()], TOKEN_TTL)
            .map_err(|err| format!("cannot sign the monitor's token: {err}"))?;
        let data = serde_json::to_vec(rows).map_err(|err| err.to_string())?;
        let mut request = tonic::Request::new(LogRowsRequest {
            project: project.to_owned(),
            monitor: monitor.to_owned(),
            data: data.into(),
            format: LogFormat::Json as i32,
        });
        // A call that names its caller is sent as it is (no caller is in scope here anyway).
        let authorization = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the signed token is not a valid header".to_owned())?;
        request.metadata_mut().insert("authorization", authorization);
        let mut client = self.client.clone();
        match tokio::time::timeout(CALL_TIMEOUT, client.log_rows(request)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
            Err(_) => Err(format!("the monitor did not answer within {CALL_TIMEOUT:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lathe_contract::monitor::v1 as m;
    use lathe_contract::monitor::v1::monitor_service_server::{MonitorService, MonitorServiceServer};
    use tonic::{Request, Response, Status};

    use super::*;
    use crate::auth::Verifier;
    use crate::config::{AuthSettings, Secret};
    use crate::row_log::queue;

    /// A stand-in monitor: records each `LogRows` call (its bearer token and rows), refuses
    /// calls for the monitor `refusing`, and has no other method.
    #[derive(Default, Clone)]
    struct Recorder {
        calls: Arc<Mutex<Vec<(String, LogRowsRequest)>>>,
    }

    fn none<T>() -> Result<Response<T>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    #[tonic::async_trait]
    impl MonitorService for Recorder {
        async fn log_rows(
            &self,
            request: Request<LogRowsRequest>,
        ) -> Result<Response<m::LogRowsResponse>, Status> {
            let token = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .trim_start_matches("Bearer ")
                .to_owned();
            let request = request.into_inner();
            if request.monitor == "refusing" {
                return Err(Status::not_found("no such monitor"));
            }
            self.calls.lock().unwrap().push((token, request));
            Ok(Response::new(m::LogRowsResponse::default()))
        }
        async fn put_monitor(
            &self,
            _: Request<m::PutMonitorRequest>,
        ) -> Result<Response<m::Monitor>, Status> {
            none()
        }
        async fn get_monitor(
            &self,
            _: Request<m::GetMonitorRequest>,
        ) -> Result<Response<m::Monitor>, Status> {
            none()
        }
        async fn list_monitors(
            &self,
            _: Request<m::ListMonitorsRequest>,
        ) -> Result<Response<m::ListMonitorsResponse>, Status> {
            none()
        }
        async fn delete_monitor(
            &self,
            _: Request<m::DeleteMonitorRequest>,
        ) -> Result<Response<m::DeleteMonitorResponse>, Status> {
            none()
        }
        async fn set_reference(
            &self,
            _: Request<m::SetReferenceRequest>,
        ) -> Result<Response<m::Reference>, Status> {
            none()
        }
        async fn get_reference(
            &self,
            _: Request<m::GetReferenceRequest>,
        ) -> Result<Response<m::Reference>, Status> {
            none()
        }
        async fn log_labels(
            &self,
            _: Request<m::LogLabelsRequest>,
        ) -> Result<Response<m::LogLabelsResponse>, Status> {
            none()
        }
        async fn check_window(
            &self,
            _: Request<m::CheckWindowRequest>,
        ) -> Result<Response<m::WindowResult>, Status> {
            none()
        }
        async fn list_windows(
            &self,
            _: Request<m::ListWindowsRequest>,
        ) -> Result<Response<m::ListWindowsResponse>, Status> {
            none()
        }
        async fn get_report(&self, _: Request<m::GetReportRequest>) -> Result<Response<m::Report>, Status> {
            none()
        }
        async fn list_alerts(
            &self,
            _: Request<m::ListAlertsRequest>,
        ) -> Result<Response<m::ListAlertsResponse>, Status> {
            none()
        }
        async fn compare(&self, _: Request<m::CompareRequest>) -> Result<Response<m::Report>, Status> {
            none()
        }
        async fn project_data(
            &self,
            _: Request<m::ProjectDataRequest>,
        ) -> Result<Response<m::ProjectDataResponse>, Status> {
            none()
        }
    }

    async fn serve(recorder: Recorder) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(MonitorServiceServer::new(recorder))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        format!("http://{addr}")
    }

    /// The subject the senders under test sign as.
    const SUBJECT: &str = "service:row-log-test";

    fn rows(n: usize) -> Vec<serde_json::Value> {
        (0..n).map(|i| serde_json::json!({"trips": i})).collect()
    }

    fn metrics() -> LoggingMetrics {
        LoggingMetrics::new("test_logging", "test rows")
    }

    fn auth() -> AuthSettings {
        AuthSettings {
            jwt_secret: Some(Secret::new("row-log-test-secret-0123456789-abcdef")),
            ..AuthSettings::default()
        }
    }

    #[tokio::test]
    async fn rows_go_out_in_batches_of_a_thousand_then_each_second_as_the_projects_editor() {
        let dir = tempfile::tempdir().unwrap();
        let auth = auth();
        let signer = Arc::new(Signer::from_settings(&auth, dir.path()).unwrap());
        let recorder = Recorder::default();
        let endpoint = serve(recorder.clone()).await;
        let metrics = metrics();
        let (queue, receiver, queued) = queue(metrics.clone());
        let channel = crate::grpc::channel(&endpoint, "test.monitor_endpoint").unwrap();
        let sender = LogSender::new(receiver, queued, channel, Some(signer), metrics.clone(), SUBJECT);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(sender.run(async {
            let _ = stopped.await;
        }));

        // 1,500 rows: a full batch at once, the other 500 at the next flush.
        for _ in 0..3 {
            queue.offer("p", "drift", rows(500));
        }
        queue.offer("p", "refusing", rows(7));
        let started = std::time::Instant::now();
        while metrics.sent.with_label_values(&["p", "drift"]).get() < 1_500 {
            assert!(started.elapsed() < Duration::from_secs(10), "rows never all sent");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let calls = recorder.calls.lock().unwrap().clone();
        let sizes: Vec<usize> = calls
            .iter()
            .map(|(_, call)| {
                serde_json::from_slice::<Vec<serde_json::Value>>(&call.data)
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes, [1_000, 500]);
        let verifier = Verifier::from_settings(&auth, dir.path()).unwrap();
        for (token, call) in &calls {
            assert_eq!((call.project.as_str(), call.monitor.as_str()), ("p", "drift"));
            assert_eq!(call.format, LogFormat::Json as i32);
            let claims = verifier.verify(token).unwrap();
            assert_eq!(claims.sub, SUBJECT);
            assert_eq!(claims.roles, [Role::Editor]);
            assert_eq!(claims.projects, ["p"]);
        }
        // The rows go out as they were offered, in order.
        let first: Vec<serde_json::Value> = serde_json::from_slice(&calls[0].1.data).unwrap();
        let second: Vec<serde_json::Value> = serde_json::from_slice(&calls[1].1.data).unwrap();
        let offered: Vec<serde_json::Value> = rows(500).into_iter().cycle().take(1_500).collect();
        assert_eq!([first, second].concat(), offered);

        // The refused batch is counted, not retried, and nothing else notices.
        while metrics.failed.with_label_values(&["p", "refusing"]).get() < 7 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the refusal was never counted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(metrics.dropped.with_label_values(&["p", "drift"]).get(), 0);

        // Rows queued just before the stop still go out.
        queue.offer("p", "drift", rows(3));
        let _ = stop.send(());
        running.await.unwrap();
        assert_eq!(metrics.sent.with_label_values(&["p", "drift"]).get(), 1_503);
    }

    #[tokio::test]
    async fn an_unreachable_monitor_costs_counted_rows_only() {
        let metrics = metrics();
        let (queue, receiver, queued) = queue(metrics.clone());
        // Nothing listens on port 9 of loopback.
        let channel = crate::grpc::channel("http://127.0.0.1:9", "test.monitor_endpoint").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let signer = Arc::new(Signer::from_settings(&auth(), dir.path()).unwrap());
        let sender = LogSender::new(receiver, queued, channel, Some(signer), metrics.clone(), SUBJECT);
        let running = tokio::spawn(sender.run(std::future::pending::<()>()));
        queue.offer("p", "drift", rows(4));
        let started = std::time::Instant::now();
        while metrics.failed.with_label_values(&["p", "drift"]).get() < 4 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the failure was never counted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        running.abort();
    }

    #[tokio::test]
    async fn without_a_signing_key_every_row_is_counted_as_failed() {
        let recorder = Recorder::default();
        let endpoint = serve(recorder.clone()).await;
        let metrics = metrics();
        let (queue, receiver, queued) = queue(metrics.clone());
        let channel = crate::grpc::channel(&endpoint, "test.monitor_endpoint").unwrap();
        let sender = LogSender::new(receiver, queued, channel, None, metrics.clone(), SUBJECT);
        let running = tokio::spawn(sender.run(std::future::pending::<()>()));
        queue.offer("p", "drift", rows(5));
        let started = std::time::Instant::now();
        while metrics.failed.with_label_values(&["p", "drift"]).get() < 5 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the failure was never counted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            recorder.calls.lock().unwrap().is_empty(),
            "no unsigned call reaches the monitor"
        );
        running.abort();
    }
}
