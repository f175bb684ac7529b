//! Run artifacts, streamed through the gateway to and from the registry-service's object
//! storage: an upload or download holds at most a few chunks in memory, whatever its size.
//! Reads need `viewer`, uploads `editor`, both the project in the token.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, get, put, web};
use futures::future::{Either, select};
use futures::{Stream, StreamExt, pin_mut};
use lathe_common::Error;
use lathe_common::access;
use lathe_common::grpc::TracedChannel;
use lathe_common::reasons;
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::download_artifact_response::Part as DownloadPart;
use lathe_contract::registry::v1::upload_artifact_request::Part as UploadPart;
use lathe_contract::service_names;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::GrpcMethod;
use tonic::codec::{BufferSettings, Codec, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};
use tracing::Instrument;
use utoipa::ToSchema;

use super::params::{ArtifactPath, ListArtifactsQuery, RunPath};
use super::requests::Target;
use super::{Reply, Services, ok};
use crate::auth::{Editor, ProjectAccess, Viewer};
use crate::error::{ApiError, ErrorBody};

/// Request and response header carrying the hex sha256 of an artifact's content.
pub const SHA256_HEADER: &str = "x-lathe-sha256";

/// Largest data chunk sent to the registry-service in one gRPC message.
const CHUNK_BYTES: usize = 1024 * 1024;

/// Chunks in flight between the HTTP body and the gRPC stream; bounds the memory of an upload.
const UPLOAD_QUEUE: usize = 4;

/// The raw content of an artifact, as the OpenAPI document describes it; never materialised.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ArtifactContent(pub Vec<u8>);

/// Stores the raw request body as an artifact of a run (editor), streaming it through.
#[utoipa::path(
    tag = "artifacts",
    params(
        ArtifactPath,
        ("x-lathe-sha256" = Option<String>, Header, description = "Expected hex sha256; the upload is refused unless the content matches"),
    ),
    request_body(content = ArtifactContent, content_type = "application/octet-stream"),
    responses(
        (status = 201, body = pb::Artifact), (status = 400, body = ErrorBody, description = "Bad path or checksum mismatch"), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "The run is not active"),
    ),
)]
#[put("/{run_id}/artifacts/{path:.*}")]
pub async fn upload_artifact(
    _access: ProjectAccess<Editor>,
    path: web::Path<ArtifactPath>,
    request: HttpRequest,
    payload: web::Payload,
    backends: Services,
) -> Reply {
    let (project, run_id, path) = path.into_inner().parts();
    let expected_sha256 = match request.headers().get(SHA256_HEADER) {
        Some(value) => value
            .to_str()
            .map_err(|_| {
                Error::invalid(format!("the {SHA256_HEADER} header must be hex"))
                    .with_reason(reasons::INVALID_HEADER)
            })?
            .trim()
            .to_owned(),
        None => String::new(),
    };
    let artifact = stream_upload(
        &backends,
        pb::UploadArtifactHeader {
            project,
            run_id,
            path,
            expected_sha256,
        },
        payload,
    )
    .await?;
    Ok(HttpResponse::Created().json(artifact))
}

/// Streams an HTTP body to the registry as the artifact `header` names (Lathe's upload route
/// and MLflow's artifact proxy): stored only when the whole body arrived and the service
/// committed it.
pub async fn stream_upload(
    backends: &Services,
    header: pb::UploadArtifactHeader,
    payload: web::Payload,
) -> Result<pb::Artifact, ApiError> {
    stream_upload_to(backends, RUN_UPLOAD, header, payload).await
}

/// A client-streaming upload method: `TrackingService.UploadArtifact`, or one whose messages
/// have the same wire layout (`LoggedModelService.UploadLoggedModelArtifact`, whose header's
/// field 2 is the logged model's id where a run's upload has the run's).
#[derive(Clone, Copy)]
pub struct UploadMethod {
    service: &'static str,
    method: &'static str,
    path: &'static str,
}

pub const RUN_UPLOAD: UploadMethod = UploadMethod {
    service: service_names::TRACKING,
    method: "UploadArtifact",
    path: UPLOAD_ARTIFACT_PATH,
};

pub const LOGGED_MODEL_UPLOAD: UploadMethod = UploadMethod {
    service: service_names::LOGGED_MODELS,
    method: "UploadLoggedModelArtifact",
    path: "/lathe.registry.v1.LoggedModelService/UploadLoggedModelArtifact",
};

/// [`stream_upload`] to `method`.
pub async fn stream_upload_to(
    backends: &Services,
    method: UploadMethod,
    header: pb::UploadArtifactHeader,
    payload: web::Payload,
) -> Result<pb::Artifact, ApiError> {
    let header = pb::UploadArtifactRequest {
        part: Some(UploadPart::Header(header)),
    };
    let (sender, receiver) = mpsc::channel(UPLOAD_QUEUE);
    sender
        .send(Queued::Message(header))
        .await
        .map_err(|_| Error::internal("the upload queue closed before its header"))?;
    let outgoing = UploadStream {
        queue: ReceiverStream::new(receiver),
        done: false,
    };
    // The call runs on its own task: were it dropped with this handler (client gone), hyper
    // would reset the stream with CANCEL, which the service's tonic reads as a clean end.
    let mut call = tokio::spawn(access::carry_caller(
        upload_call(backends.registry_channel.clone(), method, outgoing).instrument(tracing::Span::current()),
    ));
    // The HTTP payload is not Send, so it is read here while the task drains the queue.
    let pump = pump_body(payload, sender);
    pin_mut!(pump);
    let result = match select(pump, &mut call).await {
        Either::Left((Ok(()), _)) => call.await,
        Either::Left((Err(err), _)) => return Err(err),
        Either::Right((result, _pump)) => result,
    };
    Ok(result
        .map_err(|err| Error::internal(format_args!("artifact upload task failed: {err}")))??
        .into_inner())
}

/// gRPC path of `TrackingService.UploadArtifact`.
const UPLOAD_ARTIFACT_PATH: &str = "/lathe.registry.v1.TrackingService/UploadArtifact";

/// Calls `UploadArtifact` with [`UploadCodec`], so that an aborted upload fails the stream.
async fn upload_call(
    channel: TracedChannel,
    method: UploadMethod,
    outgoing: UploadStream,
) -> Result<tonic::Response<pb::Artifact>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|err| tonic::Status::unavailable(format!("the registry-service is not reachable: {err}")))?;
    let mut request = tonic::Request::new(outgoing);
    request
        .extensions_mut()
        .insert(GrpcMethod::new(method.service, method.method));
    grpc.client_streaming(
        request,
        PathAndQuery::from_static(method.path),
        UploadCodec::default(),
    )
    .await
}

/// What the HTTP side queues for the gRPC request stream.
enum Queued {
    Message(pb::UploadArtifactRequest),
    /// The whole HTTP body was read: the request stream may end.
    End,
}

/// What the request stream hands to [`UploadCodec`].
enum Outgoing {
    Message(pb::UploadArtifactRequest),
    /// The HTTP body broke off, or the handler was dropped, before [`Queued::End`].
    Abort,
}

/// The request stream of an upload. It ends cleanly only after [`Queued::End`]; a queue closed
/// without it yields [`Outgoing::Abort`].
struct UploadStream {
    queue: ReceiverStream<Queued>,
    done: bool,
}

impl Stream for UploadStream {
    type Item = Outgoing;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match ready!(this.queue.poll_next_unpin(cx)) {
            Some(Queued::Message(message)) => Poll::Ready(Some(Outgoing::Message(message))),
            Some(Queued::End) => {
                this.done = true;
                Poll::Ready(None)
            }
            None => {
                this.done = true;
                Poll::Ready(Some(Outgoing::Abort))
            }
        }
    }
}

/// Prost encoding of upload messages, where [`Outgoing::Abort`] is an encoding error. Tonic
/// then resets the HTTP/2 stream with INTERNAL_ERROR, which the service reads as a failed
/// upload; a cancellation (CANCEL) would not do, as tonic's server reads it as a clean end.
#[derive(Default)]
struct UploadCodec(ProstCodec<pb::UploadArtifactRequest, pb::Artifact>);

impl Codec for UploadCodec {
    type Encode = Outgoing;
    type Decode = pb::Artifact;
    type Encoder = UploadEncoder;
    type Decoder = ProstDecoder<pb::Artifact>;

    fn encoder(&mut self) -> UploadEncoder {
        UploadEncoder(self.0.encoder())
    }

    fn decoder(&mut self) -> ProstDecoder<pb::Artifact> {
        self.0.decoder()
    }
}

struct UploadEncoder(ProstEncoder<pb::UploadArtifactRequest>);

impl Encoder for UploadEncoder {
    type Item = Outgoing;
    type Error = tonic::Status;

    fn encode(&mut self, item: Outgoing, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        match item {
            Outgoing::Message(message) => self.0.encode(message, dst),
            Outgoing::Abort => Err(tonic::Status::aborted("the HTTP request body broke off")),
        }
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// Forwards the HTTP body into `sender`, then ends the upload stream. A broken body closes the
/// queue without [`Queued::End`], which aborts the upload.
async fn pump_body(payload: web::Payload, sender: mpsc::Sender<Queued>) -> Result<(), ApiError> {
    let Some(size) = forward_chunks(payload, &sender).await? else {
        return Ok(());
    };
    // Only a body read to its end is committed; the service stores nothing without this.
    let commit = pb::UploadArtifactRequest {
        part: Some(UploadPart::Commit(pb::UploadArtifactCommit { size })),
    };
    // A closed queue means the call is over; its result is what the caller sees.
    if sender.send(Queued::Message(commit)).await.is_ok() {
        let _ = sender.send(Queued::End).await;
    }
    Ok(())
}

/// Sends the body in chunks of at most [`CHUNK_BYTES`] and returns its size. Stops early
/// (`None`), without error, when the gRPC call has already finished: its answer says why.
async fn forward_chunks(
    mut payload: web::Payload,
    sender: &mpsc::Sender<Queued>,
) -> Result<Option<u64>, ApiError> {
    let mut size: u64 = 0;
    let chunk_message = |data: Bytes| {
        Queued::Message(pb::UploadArtifactRequest {
            part: Some(UploadPart::Chunk(data)),
        })
    };
    // Small HTTP chunks are gathered into one message; large ones pass through uncopied.
    let mut pending = BytesMut::new();
    while let Some(item) = payload.next().await {
        let mut bytes = item.map_err(|err| {
            Error::invalid(format!("cannot read the request body: {err}")).with_reason(reasons::INVALID_BODY)
        })?;
        size += bytes.len() as u64;
        while !bytes.is_empty() {
            let chunk = if pending.is_empty() && bytes.len() >= CHUNK_BYTES {
                bytes.split_to(CHUNK_BYTES)
            } else {
                let take = (CHUNK_BYTES - pending.len()).min(bytes.len());
                pending.extend_from_slice(&bytes.split_to(take));
                if pending.len() < CHUNK_BYTES {
                    continue;
                }
                pending.split().freeze()
            };
            if sender.send(chunk_message(chunk)).await.is_err() {
                return Ok(None);
            }
        }
    }
    if !pending.is_empty() && sender.send(chunk_message(pending.freeze())).await.is_err() {
        return Ok(None);
    }
    Ok(Some(size))
}

/// The content of an artifact, streamed; `Content-Length` and `x-lathe-sha256` come first.
#[utoipa::path(
    tag = "artifacts",
    params(ArtifactPath),
    responses(
        (status = 200, body = ArtifactContent, content_type = "application/octet-stream",
            headers(("x-lathe-sha256" = String, description = "Hex sha256 of the content"))),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
#[get("/{run_id}/artifacts/{path:.*}")]
pub async fn download_artifact(
    target: Target<Viewer, ArtifactPath, pb::ArtifactRef>,
    backends: Services,
) -> Reply {
    let mut stream = backends
        .tracking()
        .download_artifact(target.request)
        .await?
        .into_inner();
    // Errors such as a missing artifact arrive before the metadata, so they still get the
    // JSON error body.
    let metadata = match stream.message().await? {
        Some(pb::DownloadArtifactResponse {
            part: Some(DownloadPart::Metadata(metadata)),
        }) => metadata,
        _ => {
            return Err(Error::internal("artifact download did not start with its metadata").into());
        }
    };
    let body = stream.map(|message| match message {
        Ok(pb::DownloadArtifactResponse {
            part: Some(DownloadPart::Chunk(data)),
        }) => Ok(data),
        Ok(_) => Err(tonic::Status::internal("artifact download sent metadata twice")),
        Err(status) => {
            tracing::warn!(error = %status, "artifact download broke off");
            Err(status)
        }
    });
    let mut response = HttpResponse::Ok();
    response.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    ));
    if let Ok(sha256) = HeaderValue::from_str(&metadata.sha256) {
        response.insert_header((SHA256_HEADER, sha256));
    }
    Ok(response.body(SizedStream::new(metadata.size, body)))
}

/// The entries of one directory of a run's artifact tree.
#[utoipa::path(
    tag = "artifacts",
    params(RunPath, ListArtifactsQuery),
    responses(
        (status = 200, body = pb::ListArtifactsResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[get("/{run_id}/artifacts")]
pub async fn list_artifacts(
    _access: ProjectAccess<Viewer>,
    path: web::Path<RunPath>,
    query: web::Query<ListArtifactsQuery>,
    backends: Services,
) -> Reply {
    let RunPath { project, run_id } = path.into_inner();
    let request = pb::ListArtifactsRequest {
        project,
        run_id,
        path: query.into_inner().path.unwrap_or_default(),
    };
    ok(backends.tracking().list_artifacts(request).await?)
}
