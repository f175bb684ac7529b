//! Artifact trees on the object store — a run's, or a logged model's — streamed both ways: an
//! upload goes straight into a multipart write (flat memory whatever the size) while its sha256
//! is computed; the object becomes visible only when the upload completes (its row is written
//! after the multipart write finishes, and listings and downloads read rows), and an
//! interrupted upload is aborted; what a killed process leaves behind is removed by
//! [`crate::store::upload_sweep`]. Downloads re-hash what they stream and fail the stream if the
//! content no longer matches. A model version's copy ([`download_object`], [`list_objects`]) is
//! read from the object store itself: it has no rows, and never changes once written.

use std::pin::Pin;

use bytes::Bytes;
use chrono::Utc;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
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
use crate::store::logged_models::logged_model;
use crate::store::tracking::{artifact, run};

/// Parts of a multipart upload (S3's minimum is 5 MiB) and how many may be in flight.
const PART_SIZE: usize = 8 * 1024 * 1024;
const MAX_PARTS_IN_FLIGHT: usize = 2;
/// Size of the chunks a download streams.
const DOWNLOAD_CHUNK: usize = 1024 * 1024;

/// What an artifact tree belongs to: its rows in `registry_artifacts` are keyed by the owner's
/// id (a run's 32 hex digits, a logged model's `m-…`), its objects lie under its prefix.
pub enum Owner {
    Run(run::Model),
    LoggedModel(logged_model::Model),
}

impl Owner {
    /// The key of the owner's rows in `registry_artifacts`.
    pub fn id(&self) -> &str {
        match self {
            Owner::Run(run) => &run.id,
            Owner::LoggedModel(model) => &model.id,
        }
    }

    /// The object-store prefix of the tree (without a trailing slash).
    pub fn tree_prefix(&self) -> String {
        match self {
            Owner::Run(run) => format!("{}/artifacts", Tracking::run_prefix(run)),
            Owner::LoggedModel(model) => format!("{}/artifacts", Tracking::logged_model_prefix(model)),
        }
    }

    /// Where a file of the tree lives.
    pub fn location(&self, path: &str) -> Path {
        Path::from(format!("{}/{path}", self.tree_prefix()))
    }

    fn describe(&self) -> String {
        match self {
            Owner::Run(run) => format!("run '{}'", run.id),
            Owner::LoggedModel(model) => format!("logged model '{}'", model.id),
        }
    }
}

/// One part of an upload stream after its header: data, or the commit.
pub enum UploadPart {
    Chunk(Bytes),
    Commit(u64),
    /// A second header, or an empty message: a malformed stream.
    Unexpected,
}

impl From<pb::upload_artifact_request::Part> for UploadPart {
    fn from(part: pb::upload_artifact_request::Part) -> UploadPart {
        match part {
            pb::upload_artifact_request::Part::Chunk(chunk) => UploadPart::Chunk(chunk),
            pb::upload_artifact_request::Part::Commit(commit) => UploadPart::Commit(commit.size),
            pb::upload_artifact_request::Part::Header(_) => UploadPart::Unexpected,
        }
    }
}

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
    let parts = stream.map_ok(|message| message.part.map_or(UploadPart::Unexpected, UploadPart::from));
    store_upload(tracking, &Owner::Run(run), &path, &header.expected_sha256, parts).await
}

/// Stores the file that `parts` (data chunks, then a commit) carry at `path` in the owner's
/// tree, replacing an earlier upload to the same path; `expected_sha256`, when not empty, must
/// match the content.
pub async fn store_upload(
    tracking: &Tracking,
    owner: &Owner,
    path: &str,
    expected_sha256: &str,
    mut parts: impl Stream<Item = std::result::Result<UploadPart, Status>> + Unpin + Send,
) -> Result<pb::Artifact> {
    let location = owner.location(path);
    let upload = tracking.objects.put_multipart(&location).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let received: Result<()> = async {
        let mut committed = None;
        while let Some(part) = parts.next().await.transpose()? {
            match part {
                UploadPart::Chunk(chunk) if committed.is_none() => {
                    writer.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await?;
                    hasher.update(&chunk);
                    size += chunk.len() as u64;
                    // Copied into the part being built: handing the chunk over as it is
                    // (`put`) kept each decode buffer it was sliced from alive until its part
                    // was written, and a 384 MiB upload's peak memory grew 85-105 MiB instead
                    // of 58-66 (tests/artifact_memory.rs), for no measurable speed.
                    writer.write(&chunk);
                }
                UploadPart::Commit(declared) if committed.is_none() => {
                    committed = Some(declared);
                }
                UploadPart::Chunk(_) | UploadPart::Commit(_) | UploadPart::Unexpected => {
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
    let mismatch = !expected_sha256.is_empty() && !expected_sha256.eq_ignore_ascii_case(&sha256);
    if let Err(err) = received {
        let _ = writer.abort().await;
        tracing::warn!(owner = %owner.id(), path = %path, error = %err, "artifact upload interrupted; nothing stored");
        return Err(err);
    }
    if mismatch {
        let _ = writer.abort().await;
        return Err(Error::invalid(format!(
            "artifact '{path}': content sha256 {sha256} does not match the expected {expected_sha256}"
        ))
        .with_reason(reasons::CHECKSUM_MISMATCH));
    }
    writer.finish().await?;
    let row = artifact::Model {
        run_id: owner.id().to_owned(),
        path: path.to_owned(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        sha256,
        create_time: Utc::now(),
    };
    artifacts::upsert(&tracking.db, &row).await?;
    tracing::info!(owner = %owner.id(), path = %path, size, "artifact stored");
    Ok(proto::artifact(&row, ""))
}

pub type DownloadStream = Pin<Box<dyn Stream<Item = Result<pb::DownloadArtifactResponse, Status>> + Send>>;

/// A run's artifact: its metadata, then its content in chunks; the stream fails if the content
/// no longer matches its recorded sha256.
pub async fn download(tracking: &Tracking, reference: pb::ArtifactRef) -> Result<DownloadStream> {
    let path = names::artifact_path(&reference.path, false)?;
    let run = tracking.run(&reference.project, &reference.run_id).await?;
    download_from(tracking, &Owner::Run(run), &path).await
}

/// The file at `path` of the owner's tree, as [`download`] streams it.
pub async fn download_from(tracking: &Tracking, owner: &Owner, path: &str) -> Result<DownloadStream> {
    let row = artifacts::find(&tracking.db, owner.id(), path)
        .await?
        .ok_or_else(|| {
            Error::of(
                reasons::ARTIFACT_NOT_FOUND,
                format!("{} has no artifact '{path}'", owner.describe()),
            )
        })?;
    let location = owner.location(path);
    let body = object_bytes(tracking.objects.get(&location).await?);
    let expected = row.sha256.clone();
    Ok(stream_download(
        proto::artifact(&row, ""),
        body,
        Some(expected),
        location,
    ))
}

/// The object at `location`, reported as the artifact `path`: for trees without rows (a model
/// version's copy, which never changes once written). A missing object is `not found`.
pub async fn download_object(tracking: &Tracking, location: Path, path: &str) -> Result<DownloadStream> {
    let result = match tracking.objects.get(&location).await {
        Ok(result) => result,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(Error::of(
                reasons::ARTIFACT_NOT_FOUND,
                format!("no artifact '{path}'"),
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let metadata = pb::Artifact {
        path: path.to_owned(),
        size: result.meta.size,
        sha256: String::new(),
        is_dir: false,
        create_time: Some(lathe_common::validate::timestamp(result.meta.last_modified)),
    };
    Ok(stream_download(metadata, object_bytes(result), None, location))
}

/// `metadata`, then `body` in chunks of at most [`DOWNLOAD_CHUNK`]; with `expected`, the
/// stream fails at its end if the content's sha256 differs.
fn stream_download(
    metadata: pb::Artifact,
    body: BoxStream<'static, object_store::Result<Bytes>>,
    expected: Option<String>,
    location: Path,
) -> DownloadStream {
    let metadata = pb::DownloadArtifactResponse {
        part: Some(pb::download_artifact_response::Part::Metadata(metadata)),
    };
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
        if let Some(expected) = expected.filter(|expected| *expected != actual) {
            tracing::error!(path = %location, expected = %expected, actual = %actual, "artifact content does not match its sha256");
            yield Err(Status::from(Error::new(
                ErrorCode::Internal,
                "artifact content does not match its recorded sha256",
            )));
        }
    };
    Box::pin(stream)
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
    list_of(tracking, &Owner::Run(run), &dir).await
}

/// The files and sub-directories directly in the directory `dir` of the owner's tree.
pub async fn list_of(tracking: &Tracking, owner: &Owner, dir: &str) -> Result<pb::ListArtifactsResponse> {
    let prefix = dir_prefix(dir);
    let rows = artifacts::under(&tracking.db, owner.id(), &prefix).await?;
    let files = rows.iter().map(|row| (row.path.as_str(), row.size, Some(row)));
    Ok(pb::ListArtifactsResponse {
        artifacts: direct_children(&prefix, files),
    })
}

/// The files and sub-directories directly in the directory `dir` of the tree under `root` on
/// the object store: for trees without rows (a model version's copy).
pub async fn list_objects(tracking: &Tracking, root: &str, dir: &str) -> Result<pb::ListArtifactsResponse> {
    let prefix = dir_prefix(dir);
    let under = Path::from(format!("{root}/{prefix}"));
    let mut objects: Vec<(String, i64)> = tracking
        .objects
        .list(Some(&under))
        .map_ok(|meta| {
            let full = meta.location.to_string();
            let relative = full
                .strip_prefix(root)
                .unwrap_or(&full)
                .trim_start_matches('/')
                .to_owned();
            (relative, i64::try_from(meta.size).unwrap_or(i64::MAX))
        })
        .try_collect()
        .await?;
    // `list` also matches names that merely start with the prefix (`a/bc` for `a/b`).
    objects.retain(|(path, _)| path.starts_with(&prefix));
    objects.sort();
    let files = objects.iter().map(|(path, size)| (path.as_str(), *size, None));
    Ok(pb::ListArtifactsResponse {
        artifacts: direct_children(&prefix, files),
    })
}

fn dir_prefix(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    }
}

/// Direct children only, from files in path order under `prefix`: files at this level, and one
/// entry per sub-directory (its size the sum of its files').
fn direct_children<'a>(
    prefix: &str,
    files: impl Iterator<Item = (&'a str, i64, Option<&'a artifact::Model>)>,
) -> Vec<pb::Artifact> {
    let mut artifacts: Vec<pb::Artifact> = Vec::new();
    for (path, size, row) in files {
        let size = u64::try_from(size).unwrap_or(0);
        let rest = &path[prefix.len()..];
        match rest.split_once('/') {
            None => artifacts.push(match row {
                Some(row) => pb::Artifact {
                    path: row.path.clone(),
                    ..proto::artifact(row, "")
                },
                None => pb::Artifact {
                    path: path.to_owned(),
                    size,
                    sha256: String::new(),
                    is_dir: false,
                    create_time: None,
                },
            }),
            Some((sub, _)) => {
                let sub_path = format!("{prefix}{sub}");
                match artifacts.last_mut() {
                    Some(last) if last.is_dir && last.path == sub_path => last.size += size,
                    _ => artifacts.push(pb::Artifact {
                        path: sub_path,
                        size,
                        sha256: String::new(),
                        is_dir: true,
                        create_time: None,
                    }),
                }
            }
        }
    }
    artifacts
}
