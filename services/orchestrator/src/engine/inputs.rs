//! The `inputs` of a command task: each fetched, before the command starts, into the try's
//! own directory (`inputs/NAME/FILE`), streamed, and named to the command by
//! `LATHE_INPUT_NAME`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use super::locations::{Located, resolve};

/// The environment variable that names an input's local path.
pub fn variable(name: &str) -> String {
    format!("LATHE_INPUT_{}", name.to_ascii_uppercase())
}

/// Fetches every input (name → rendered location) under `dir`; the environment variables to
/// give the command, or why an input could not be fetched (naming it and its location).
pub async fn fetch_all(
    objects: &dyn ObjectStore,
    objects_url: &str,
    inputs: &BTreeMap<String, String>,
    dir: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for (name, written) in inputs {
        let written = written.trim();
        let local = fetch(objects, resolve(objects_url, written), &dir.join(name))
            .await
            .map_err(|reason| format!("input '{name}' ({written}): {reason}"))?;
        env.insert(variable(name), local.to_string_lossy().into_owned());
    }
    Ok(env)
}

async fn fetch(objects: &dyn ObjectStore, located: Located<'_>, dir: &Path) -> Result<PathBuf, String> {
    let file_name = match located {
        Located::Key(key) => key.rsplit('/').next().unwrap_or_default().to_owned(),
        Located::LocalFile(path) => path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if file_name.is_empty() || file_name == "." || file_name == ".." {
        return Err("names no file".to_owned());
    }
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let local = dir.join(file_name);
    match located {
        Located::LocalFile(path) => {
            tokio::fs::copy(path, &local)
                .await
                .map_err(|e| format!("cannot copy the local file: {e}"))?;
        }
        Located::Key(key) => {
            let found = objects.get(&ObjectPath::from(key)).await.map_err(|e| {
                if let object_store::Error::NotFound { .. } = e {
                    format!("no object '{key}' in the orchestrator's object store")
                } else {
                    format!("cannot read '{key}' from the object store: {e}")
                }
            })?;
            let mut file = tokio::fs::File::create(&local)
                .await
                .map_err(|e| format!("cannot create {}: {e}", local.display()))?;
            let mut chunks = found.into_stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| format!("cannot read '{key}' from the object store: {e}"))?;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", local.display()))?;
            }
            file.flush()
                .await
                .map_err(|e| format!("cannot write {}: {e}", local.display()))?;
        }
    }
    Ok(local)
}

#[cfg(test)]
mod tests {
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn inputs_are_fetched_by_name_and_a_missing_one_is_named() {
        let objects = InMemory::new();
        objects
            .put(
                &ObjectPath::from("runs/r/a/artifacts/set.csv"),
                PutPayload::from("x,y\n1,2\n"),
            )
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("local.txt");
        std::fs::write(&local, "here").unwrap();
        let inputs = BTreeMap::from([
            (
                "train_set".to_owned(),
                "s3://lathe/runs/r/a/artifacts/set.csv".to_owned(),
            ),
            ("notes".to_owned(), local.to_string_lossy().into_owned()),
        ]);
        let env = fetch_all(&objects, "s3://lathe", &inputs, &dir.path().join("inputs"))
            .await
            .unwrap();
        let fetched = dir.path().join("inputs/train_set/set.csv");
        assert_eq!(env["LATHE_INPUT_TRAIN_SET"], fetched.to_string_lossy());
        assert_eq!(std::fs::read_to_string(&fetched).unwrap(), "x,y\n1,2\n");
        assert_eq!(
            std::fs::read_to_string(&env["LATHE_INPUT_NOTES"]).unwrap(),
            "here"
        );

        for (written, says) in [
            (
                "runs/r/a/artifacts/gone.csv",
                "input 'data' (runs/r/a/artifacts/gone.csv): no object 'runs/r/a/artifacts/gone.csv' in the orchestrator's object store",
            ),
            (
                "runs/r/a/artifacts/",
                "input 'data' (runs/r/a/artifacts/): names no file",
            ),
            (
                "/nowhere/at/all.csv",
                "input 'data' (/nowhere/at/all.csv): cannot copy the local file",
            ),
        ] {
            let inputs = BTreeMap::from([("data".to_owned(), written.to_owned())]);
            let refused = fetch_all(&objects, "s3://lathe", &inputs, &dir.path().join("inputs"))
                .await
                .unwrap_err();
            assert!(refused.starts_with(says), "{refused}");
        }
    }
}
