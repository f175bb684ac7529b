//! A version's own copy of its model files — a run's artifact, or a logged model's tree — so that
//! deleting the run or the logged model, or uploading over their files, never changes a
//! registered version.

use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::store::artifacts;
use crate::tracking::Tracking;
use crate::tracking::artifacts::Owner;

/// Copies an artifact (a file or a directory; the whole tree for an empty path) of a run or
/// logged model into `target_prefix` and returns the copy's URI and the sha256 of its tree
/// (each file's path and sha256, a line each).
pub async fn copy_artifact(
    tracking: &Tracking,
    owner: &Owner,
    artifact_path: &str,
    target_prefix: &str,
) -> Result<(String, String)> {
    let files = if artifact_path.is_empty() {
        artifacts::under(&tracking.db, owner.id(), "").await?
    } else {
        artifacts::file_or_tree(&tracking.db, owner.id(), artifact_path).await?
    };
    if files.is_empty() {
        let (what, at) = match owner {
            Owner::Run(run) => (
                "run",
                format!("'{}' has no artifact at '{artifact_path}'", run.id),
            ),
            Owner::LoggedModel(model) => ("logged model", format!("'{}' has no files", model.id)),
        };
        return Err(Error::new(
            ErrorCode::FailedPrecondition,
            format!("{what} {at}; upload the model files first"),
        )
        .with_reason(reasons::MODEL_FILES_MISSING));
    }
    let base = artifact_path.rsplit_once('/').map_or("", |(parent, _)| parent);
    let mut tree = Sha256::new();
    for file in &files {
        let relative = file
            .path
            .strip_prefix(base)
            .unwrap_or(&file.path)
            .trim_start_matches('/');
        let from = owner.location(&file.path);
        let to = Path::from(format!("{target_prefix}/{relative}"));
        tracking.objects.copy(&from, &to).await?;
        tree.update(format!("{relative} {}\n", file.sha256).as_bytes());
    }
    let uri = format!("{}/{target_prefix}", tracking.objects_url.trim_end_matches('/'));
    Ok((uri, hex::encode(tree.finalize())))
}
