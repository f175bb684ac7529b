//! A version's own copy of its run's model files, so that deleting the run or uploading over
//! its artifacts never changes a registered version.

use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::store::artifacts;
use crate::store::tracking::run;
use crate::tracking::Tracking;

/// Copies a run's artifact (a file or a directory) into `target_prefix` and returns the
/// copy's URI and the sha256 of its tree (each file's path and sha256, a line each).
pub async fn copy_run_artifact(
    tracking: &Tracking,
    run: &run::Model,
    artifact_path: &str,
    target_prefix: &str,
) -> Result<(String, String)> {
    let files = artifacts::file_or_tree(&tracking.db, &run.id, artifact_path).await?;
    if files.is_empty() {
        return Err(Error::new(
            ErrorCode::FailedPrecondition,
            format!(
                "run '{}' has no artifact at '{artifact_path}'; upload the model files first",
                run.id
            ),
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
        let from = Path::from(format!("{}/artifacts/{}", Tracking::run_prefix(run), file.path));
        let to = Path::from(format!("{target_prefix}/{relative}"));
        tracking.objects.copy(&from, &to).await?;
        tree.update(format!("{relative} {}\n", file.sha256).as_bytes());
    }
    let uri = format!("{}/{target_prefix}", tracking.objects_url.trim_end_matches('/'));
    Ok((uri, hex::encode(tree.finalize())))
}
