//! Run artifacts on the object store, streamed both ways: an upload goes straight into a
//! multipart write (flat memory whatever the size) while its sha256 is computed; the object
//! becomes visible only when the upload completes (its row is written after the multipart
//! write finishes, and listings and downloads read rows), and an interrupted upload is aborted;
//! what a killed process leaves behind is removed by [`crate::store::upload_sweep`].
//! Downloads re-hash what they stream and fail the stream if the content no longer matches.

use lathe_common::access::Caller;
use lathe_common::auth::Role;
use std::pin::Pin;

use bytes::Bytes;
use chrono::Utc;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use lathe_common::validate;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::registry::v1 as pb;
use object_store::path::Path;
use object_store::{GetResult, GetResultPayload, ObjectStoreExt, WriteMultipart};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sha2::{Digest, Sha256};
use tonic::{Status, Streaming};

use super::tracking::TrackingApi;
use crate::domain::names;
use crate::store::tracking::artifact;

/// Parts of a multipart upload (S3's minimum is 5 MiB) and how many may be in flight.
const PART_SIZE: usize = 8 * 1024 * 1024;
const MAX_PARTS_IN_FLIGHT: usize = 2;
/// Size of the chunks a download streams.
const DOWNLOAD_CHUNK: usize = 1024 * 1024;

fn artifact_to_proto(row: &artifact::Model, relative_to: &str) -> pb::Artifact {
    pb::Artifact {
        path: row.path.strip_prefix(relative_to).unwrap_or(&row.path).to_owned(),
        size: u64::try_from(row.size).unwrap_or(0),
        sha256: row.sha256.clone(),
        is_dir: false,
        create_time: Some(validate::timestamp(row.create_time)),
    }
}

pub async fn upload(
    api: &TrackingApi,
    caller: &Caller,
    mut stream: Streaming<pb::UploadArtifactRequest>,
) -> Result<pb::Artifact> {
    let header = match stream.message().await.map_err(Error::from)? {
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
    let run = api.writable_run(&header.project, &header.run_id).await?;
    let location = Path::from(format!("{}/artifacts/{path}", TrackingApi::run_prefix(&run)));

    let upload = api.objects.put_multipart(&location).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let received: Result<()> = async {
        let mut committed = None;
        while let Some(message) = stream.message().await.map_err(Error::from)? {
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
                    .with_reason("upload_incomplete"),
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
        .with_reason("checksum_mismatch"));
    }
    writer.finish().await?;
    let row = artifact::Model {
        run_id: run.id.clone(),
        path: path.clone(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        sha256,
        create_time: Utc::now(),
    };
    artifact::Entity::insert(artifact::ActiveModel {
        run_id: Set(row.run_id.clone()),
        path: Set(row.path.clone()),
        size: Set(row.size),
        sha256: Set(row.sha256.clone()),
        create_time: Set(row.create_time),
    })
    .on_conflict(
        OnConflict::columns([artifact::Column::RunId, artifact::Column::Path])
            .update_columns([
                artifact::Column::Size,
                artifact::Column::Sha256,
                artifact::Column::CreateTime,
            ])
            .to_owned(),
    )
    .exec(&api.db)
    .await?;
    tracing::info!(run = %run.id, path = %path, size, "artifact stored");
    Ok(artifact_to_proto(&row, ""))
}

pub type DownloadStream = Pin<Box<dyn Stream<Item = Result<pb::DownloadArtifactResponse, Status>> + Send>>;

pub async fn download(api: &TrackingApi, reference: pb::ArtifactRef) -> Result<DownloadStream> {
    let path = names::artifact_path(&reference.path, false)?;
    let run = api.run(&reference.project, &reference.run_id).await?;
    let row = artifact::Entity::find_by_id((run.id.clone(), path.clone()))
        .one(&api.db)
        .await?
        .ok_or_else(|| {
            Error::not_found(
                "artifact_not_found",
                format!("run '{}' has no artifact '{path}'", run.id),
            )
        })?;
    let location = Path::from(format!("{}/artifacts/{path}", TrackingApi::run_prefix(&run)));
    let body = object_bytes(api.objects.get(&location).await?);
    let metadata = pb::DownloadArtifactResponse {
        part: Some(pb::download_artifact_response::Part::Metadata(artifact_to_proto(
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

pub async fn list(api: &TrackingApi, request: pb::ListArtifactsRequest) -> Result<pb::ListArtifactsResponse> {
    let dir = names::artifact_path(&request.path, true)?;
    let run = api.run(&request.project, &request.run_id).await?;
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut query = artifact::Entity::find()
        .filter(artifact::Column::RunId.eq(&run.id))
        .order_by_asc(artifact::Column::Path);
    if !prefix.is_empty() {
        query = query.filter(artifact::Column::Path.starts_with(&prefix));
    }
    let rows = query.all(&api.db).await?;
    // Direct children only: files at this level, and one entry per sub-directory.
    let mut artifacts: Vec<pb::Artifact> = Vec::new();
    for row in &rows {
        let rest = &row.path[prefix.len()..];
        match rest.split_once('/') {
            None => artifacts.push(pb::Artifact {
                path: row.path.clone(),
                ..artifact_to_proto(row, "")
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
