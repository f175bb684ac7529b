//! Removes what killed uploads leave behind on a local-directory object store.
//!
//! There an upload in progress is a staging file `<object>#<n>` beside its destination
//! (object_store's `LocalFileSystem`): renamed into place when the upload completes, removed
//! when it is aborted or dropped. A process killed mid-upload leaves it forever, and listings
//! never show it. No object can be named like it (`LocalFileSystem` refuses a name ending in
//! `#` and digits), so such a file is always a staging file.
//!
//! A staging file is abandoned once nothing has written to it for a grace period. Several
//! replicas may share the directory, so even at start-up another replica's upload may be
//! in flight: the start-up sweep removes files idle for an hour (a live upload writes its file
//! at least every 8 MiB part, so only a client sending under about 2 KB/s looks idle that
//! long), and the hourly sweeps then remove those idle for a day. Removing the file of an
//! upload that was in fact alive makes that upload fail (completing it renames a missing
//! file), never store a partial artifact: the artifact's row is written only after it completes.
//!
//! On S3 an interrupted upload is an incomplete multipart upload. object_store 0.13 can neither
//! list them nor abort one it did not start itself, so this sweep does nothing there: the
//! bucket's lifecycle rule `AbortIncompleteMultipartUpload` (e.g. after one day) removes them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// How long a staging file must have gone unwritten for the start-up sweep to remove it.
pub const STARTUP_GRACE: Duration = Duration::from_secs(60 * 60);
/// How long a staging file must have gone unwritten for a periodic sweep to remove it.
pub const PERIODIC_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
/// The time between periodic sweeps.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub files: u64,
    pub bytes: u64,
}

/// Sweeps the store at `objects_url` at start and every [`SWEEP_INTERVAL`] until `stop`
/// resolves; returns at once for a store that is not a local directory.
pub async fn run(objects_url: String, stop: impl std::future::Future<Output = ()>) {
    let Some(root) = local_root(&objects_url) else {
        tracing::info!(
            objects = %objects_url,
            "interrupted uploads are left to the bucket's AbortIncompleteMultipartUpload lifecycle rule"
        );
        return;
    };
    tokio::pin!(stop);
    let stopping = Arc::new(AtomicBool::new(false));
    let mut grace = STARTUP_GRACE;
    loop {
        let sweep = tokio::task::spawn_blocking({
            let (root, stopping) = (root.clone(), stopping.clone());
            move || sweep(&root, grace, SystemTime::now(), &stopping)
        });
        tokio::select! {
            () = &mut stop => {
                stopping.store(true, Ordering::Relaxed);
                return;
            }
            swept = sweep => match swept {
                Ok(swept) if swept.files > 0 => tracing::info!(
                    files = swept.files,
                    bytes = swept.bytes,
                    grace_seconds = grace.as_secs(),
                    "abandoned upload files removed"
                ),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "upload sweep failed; will retry"),
            },
        }
        grace = PERIODIC_GRACE;
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(SWEEP_INTERVAL) => {}
        }
    }
}

/// The directory of a `file://` store URL, read as `lathe_common::storage::open` reads it.
fn local_root(objects_url: &str) -> Option<PathBuf> {
    let url = url::Url::parse(objects_url).ok()?;
    (url.scheme() == "file").then(|| PathBuf::from(url.path()))
}

/// Whether `name` is a staging file's: `<object>#<digits>`.
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(object, n)| {
        !object.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Removes the staging files under `root` last written more than `grace` before `now`. Stops
/// early once `stopping` is set. A file that vanishes meanwhile was completed or aborted.
pub fn sweep(root: &Path, grace: Duration, now: SystemTime, stopping: &AtomicBool) -> Swept {
    let mut swept = Swept::default();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        if stopping.load(Ordering::Relaxed) {
            break;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "upload sweep cannot read a directory");
                continue;
            }
        };
        for entry in entries.flatten() {
            // `file_type` does not follow symbolic links, so the sweep stays under `root`.
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                dirs.push(entry.path());
                continue;
            }
            if !kind.is_file() || !entry.file_name().to_str().is_some_and(is_staging_name) {
                continue;
            }
            let Ok(metadata) = entry.metadata() else { continue };
            let idle = metadata
                .modified()
                .ok()
                .and_then(|written| now.duration_since(written).ok());
            if idle.is_none_or(|idle| idle <= grace) {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    swept.files += 1;
                    swept.bytes += metadata.len();
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::warn!(file = %entry.path().display(), error = %err, "upload sweep cannot remove a file")
                }
            }
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_those_object_store_gives() {
        for name in ["model.bin#1", "data#23", "a#b#4"] {
            assert!(is_staging_name(name), "{name}");
        }
        for name in ["model.bin", "#1", "model.bin#", "model#1.bin", "notes#draft"] {
            assert!(!is_staging_name(name), "{name}");
        }
    }

    #[test]
    fn local_roots_come_from_file_urls_only() {
        assert_eq!(
            local_root("file:///data/objects/registry"),
            Some(PathBuf::from("/data/objects/registry"))
        );
        assert_eq!(local_root("s3://bucket/registry"), None);
    }
}
