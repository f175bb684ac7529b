//! Run artifacts on the object store, streamed both ways: an upload goes straight into a
//! multipart write (flat memory whatever the size) while its sha256 is computed; the object
//! becomes visible only when the upload completes (its row is written after the multipart
//! write finishes, and listings and downloads read rows), and an interrupted upload is aborted;
//! what a killed process leaves behind is removed by [`crate::store::upload_sweep`].
//! Downloads re-hash what they stream and fail the stream if the content no longer matches.

use std::pin::Pin;

use bytes::Bytes;
use chrono::Utc;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use lathe_common::access::Caller;
use lathe_common::auth::Role;
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::registry::v1 as pb;
use object_store::path::Path;
use object_store::{GetResult, GetResultPayload, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tonic::Status;

use super::Tracking;
use crate::domain::names;
use crate::proto;
use crate::store::artifacts;
use crate::store::tracking::artifact;

/// Parts of a multipart upload (S3's minimum is 5 MiB) and how many may be in flight.
const PART_SIZE: usize = 8 * 1024 * 1024;
const MAX_PARTS_IN_FLIGHT: usize = 2;
/// Size of the chunks a download streams.
const DOWNLOAD_CHUNK: usize = 1024 * 1024;

/// Stores the file an upload stream carries (a header, data chunks, then a commit) as an
/// artifact of a run in an active experiment; `caller` must be an editor of the header's
/// project.
pub async fn upload(
    tracking: &Tracking,
    caller: &Caller,
    mut stream: impl Stream<Item = std::result::Result<pb::UploadArtifactRequest, Status>> + Unpin + Send,
) -> Result<pb::Artifact> {
    let header = match stream.next().await.transpose()? {
        Some(pb::UploadArtifactRequest {
            part: Some(pb::upload_artifact_request::Part::Header(header)),
        }) => header,
        _ => {
            return Err(Error::invalid(
                "an artifact upload must start with its header message",
            ));
        }
    };
    caller.require(Role::Editor, &header.project)?;
    let path = names::artifact_path(&header.path, false)?;
    let run = tracking.writable_run(&header.project, &header.run_id).await?;
    let location = Path::from(format!("{}/artifacts/{path}", Tracking::run_prefix(&run)));

    let upload = tracking.objects.put_multipart(&location).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let received: Result<()> = async {
        let mut committed = None;
        while let Some(message) = stream.next().await.transpose()? {
            match message.part {
                Some(pb::upload_artifact_request::Part::Chunk(chunk)) if committed.is_none() => {
                    writer.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await?;
                    hasher.update(&chunk);
                    size += chunk.len() as u64;
                    // Copied into the part being built: handing the chunk over as it is
                    // (`put`) kept each decode buffer it was sliced from alive until its part
                    // was written, and a 384 MiB upload's peak memory grew 85-105 MiB instead
                    // of 58-66 (tests/artifact_memory.rs), for no measurable speed.
                    writer.write(&chunk);
                }
                Some(pb::upload_artifact_request::Part::Commit(commit)) if committed.is_none() => {
                    committed = Some(commit.size);
                }
                Some(
                    pb::upload_artifact_request::Part::Header(_)
                    | pb::upload_artifact_request::Part::Chunk(_),
                )
                | Some(pb::upload_artifact_request::Part::Commit(_))
                | None => {
                    return Err(Error::invalid(
                        "an artifact upload is one header, data chunks, then one commit",
                    ));
                }
            }
        }
        match committed {
            Some(declared) if declared == size => Ok(()),
            Some(declared) => Err(Error::invalid(format!(
                "artifact upload declared {declared} bytes but sent {size}; nothing stored"
            ))),
            None => Err(
                Error::invalid("the upload ended without its commit message; nothing stored")
                    .with_reason(reasons::UPLOAD_INCOMPLETE),
            ),
        }
    }
    .await;
    let sha256 = hex::encode(hasher.finalize());
    let mismatch =
        !header.expected_sha256.is_empty() && !header.expected_sha256.eq_ignore_ascii_case(&sha256);
    if let Err(err) = received {
        let _ = writer.abort().await;
        tracing::warn!(run = %run.id, path = %path, error = %err, "artifact upload interrupted; nothing stored");
        return Err(err);
    }
    if mismatch {
        let _ = writer.abort().await;
        return Err(Error::invalid(format!(
            "artifact '{path}': content sha256 {sha256} does not match the expected {}",
            header.expected_sha256
        ))
        .with_reason(reasons::CHECKSUM_MISMATCH));
    }
    writer.finish().await?;
    let row = artifact::Model {
        run_id: run.id.clone(),
        path: path.clone(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        sha256,
        create_time: Utc::now(),
    };
    artifacts::upsert(&tracking.db, &row).await?;
    tracing::info!(run = %run.id, path = %path, size, "artifact stored");
    Ok(proto::artifact(&row, ""))
}

pub type DownloadStream = Pin<Box<dyn Stream<Item = Result<pb::DownloadArtifactResponse, Status>> + Send>>;

/// The artifact's metadata, then its content in chunks; the stream fails if the content no
/// longer matches its recorded sha256.
pub async fn download(tracking: &Tracking, reference: pb::ArtifactRef) -> Result<DownloadStream> {
    let path = names::artifact_path(&reference.path, false)?;
    let run = tracking.run(&reference.project, &reference.run_id).await?;
    let row = artifacts::find(&tracking.db, &run.id, &path)
        .await?
        .ok_or_else(|| {
            Error::of(
                reasons::ARTIFACT_NOT_FOUND,
                format!("run '{}' has no artifact '{path}'", run.id),
            )
        })?;
    let location = Path::from(format!("{}/artifacts/{path}", Tracking::run_prefix(&run)));
    let body = object_bytes(tracking.objects.get(&location).await?);
    let metadata = pb::DownloadArtifactResponse {
        part: Some(pb::download_artifact_response::Part::Metadata(proto::artifact(
            &row, "",
        ))),
    };
    let expected = row.sha256.clone();
    let stream = async_stream::stream! {
        yield Ok(metadata);
        let mut hasher = Sha256::new();
        let mut body = body;
        while let Some(next) = body.next().await {
            match next {
                Ok(bytes) => {
                    hasher.update(&bytes);
                    for piece in bytes.chunks(DOWNLOAD_CHUNK) {
                        yield Ok(pb::DownloadArtifactResponse {
                            part: Some(pb::download_artifact_response::Part::Chunk(bytes.slice_ref(piece))),
                        });
                    }
                }
                Err(err) => {
                    yield Err(Status::from(Error::from(err)));
                    return;
                }
            }
        }
        let actual = hex::encode(hasher.finalize());
        if actual != expected {
            tracing::error!(path = %location, expected = %expected, actual = %actual, "artifact content does not match its sha256");
            yield Err(Status::from(Error::new(
                ErrorCode::Internal,
                "artifact content does not match its recorded sha256",
            )));
        }
    };
    Ok(Box::pin(stream))
}

/// Bytes per read of a local file.
const FILE_READ: u64 = 1024 * 1024;

/// Reads of a local file in flight ahead of the one being sent, so the disk works while the
/// previous MiB is hashed and sent.
const READ_AHEAD: usize = 2;

/// An object's bytes as a stream. A local file is read a MiB per blocking call: object_store's
/// own stream of a file hands out 8 KiB pieces, each a hop to a blocking thread, which holds a
/// download far below what the disk delivers.
fn object_bytes(result: GetResult) -> BoxStream<'static, object_store::Result<Bytes>> {
    match result.payload {
        GetResultPayload::File(file, path) => {
            let file = std::sync::Arc::new(file);
            let path = std::sync::Arc::new(path);
            let range = result.range;
            let offsets = (range.start..range.end).step_by(usize::try_from(FILE_READ).unwrap_or(usize::MAX));
            futures::stream::iter(offsets)
                .map(move |offset| {
                    let (file, path) = (file.clone(), path.clone());
                    let len = (range.end - offset).min(FILE_READ);
                    async move {
                        let read = tokio::task::spawn_blocking(move || {
                            use std::os::unix::fs::FileExt;
                            let mut buffer = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
                            file.read_exact_at(&mut buffer, offset).map(|()| buffer)
                        })
                        .await;
                        let io_error =
                            |source: Box<dyn std::error::Error + Send + Sync>| object_store::Error::Generic {
                                store: "LocalFileSystem",
                                source: format!("reading {}: {source}", path.display()).into(),
                            };
                        match read {
                            Ok(Ok(buffer)) => Ok(Bytes::from(buffer)),
                            Ok(Err(err)) => Err(io_error(err.into())),
                            Err(err) => Err(io_error(err.into())),
                        }
                    }
                })
                .buffered(READ_AHEAD)
                .boxed()
        }
        GetResultPayload::Stream(stream) => stream,
    }
}

/// The files and sub-directories directly in a run's artifact directory.
pub async fn list(
    tracking: &Tracking,
    request: pb::ListArtifactsRequest,
) -> Result<pb::ListArtifactsResponse> {
    let dir = names::artifact_path(&request.path, true)?;
    let run = tracking.run(&request.project, &request.run_id).await?;
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let rows = artifacts::under(&tracking.db, &run.id, &prefix).await?;
    // Direct children only: files at this level, and one entry per sub-directory.
    let mut artifacts: Vec<pb::Artifact> = Vec::new();
    for row in &rows {
        let rest = &row.path[prefix.len()..];
        match rest.split_once('/') {
            None => artifacts.push(pb::Artifact {
                path: row.path.clone(),
                ..proto::artifact(row, "")
            }),
            Some((sub, _)) => {
                let sub_path = format!("{prefix}{sub}");
                match artifacts.last_mut() {
                    Some(last) if last.is_dir && last.path == sub_path => {
                        last.size += u64::try_from(row.size).unwrap_or(0)
                    }
                    _ => artifacts.push(pb::Artifact {
                        path: sub_path,
                        size: u64::try_from(row.size).unwrap_or(0),
                        sha256: String::new(),
                        is_dir: true,
                        create_time: None,
                    }),
                }
            }
        }
    }
    Ok(pb::ListArtifactsResponse { artifacts })
}
