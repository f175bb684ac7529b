//! Where an object of the orchestrator's store is, for user code, and what a location written
//! in a pipeline (an output of an upstream task, a key, an absolute path) reads from.

use std::path::Path;

/// A local path for the embedded `file://` store, else the object's URL (`s3://bucket/key`).
pub fn location(objects_url: &str, key: &str) -> String {
    let base = objects_url.trim_end_matches('/');
    match base.strip_prefix("file://") {
        Some(dir) => format!("{dir}/{key}"),
        None => format!("{base}/{key}"),
    }
}

/// What a location written in a pipeline reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Located<'a> {
    /// A key of the orchestrator's object store.
    Key(&'a str),
    /// A file on the worker's machine.
    LocalFile(&'a Path),
}

/// A location of the orchestrator's store (as an upstream task's output names it) is its key;
/// else an absolute path is a local file, and anything else a key.
pub fn resolve<'a>(objects_url: &str, written: &'a str) -> Located<'a> {
    match written.strip_prefix(&location(objects_url, "")) {
        Some(key) => Located::Key(key),
        None if written.starts_with('/') => Located::LocalFile(Path::new(written)),
        None => Located::Key(written),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_of_the_store_resolve_to_their_keys() {
        let file = "file:///data/objects/";
        assert_eq!(location(file, "runs/r/t/a.csv"), "/data/objects/runs/r/t/a.csv");
        assert_eq!(
            resolve(file, "/data/objects/runs/r/t/a.csv"),
            Located::Key("runs/r/t/a.csv")
        );
        assert_eq!(
            resolve(file, "/tmp/a.csv"),
            Located::LocalFile(Path::new("/tmp/a.csv"))
        );
        assert_eq!(resolve(file, "runs/r/t/a.csv"), Located::Key("runs/r/t/a.csv"));
        let s3 = "s3://lathe";
        assert_eq!(location(s3, "k/a.csv"), "s3://lathe/k/a.csv");
        assert_eq!(resolve(s3, "s3://lathe/k/a.csv"), Located::Key("k/a.csv"));
        assert_eq!(resolve(s3, "k/a.csv"), Located::Key("k/a.csv"));
    }
}
