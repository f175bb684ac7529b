//! Embeds the web UI's built files (`ui/dist/`, committed; `scripts/ui.sh build` makes them)
//! into the binary: `OUT_DIR/ui_assets.rs` lists each file by its URL path with its bytes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = root.join("ui").join("dist");
    println!("cargo:rerun-if-changed=ui/dist");
    let mut found = Vec::new();
    files(&dist, &mut found);
    found.sort();
    let mut code =
        String::from("/// The UI's files: URL path, bytes.\npub static ASSETS: &[(&str, &[u8])] = &[\n");
    for path in found {
        let url = path
            .strip_prefix(&dist)
            .expect("under dist")
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            code,
            "    (\"/{url}\", include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("ui_assets.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
