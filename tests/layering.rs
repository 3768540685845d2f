//! The tree's layering as a spec: the two wings meet only in shared
//! modules, the bottom layer knows neither wing, and files stay small
//! enough to hold one idea.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Lines of the files under `dir` (relative to src/) that mention any of `needles` in code.
fn mentions(dir: &str, needles: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    let root = src().join(dir);
    if root.is_dir() {
        rust_files(&root, &mut files);
    } else {
        files.push(root);
    }
    let mut hits = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if needles.iter().any(|n| code.contains(n)) {
                hits.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    hits
}

#[test]
fn the_edge_never_imports_cloud_code_and_the_cloud_never_imports_edge_code() {
    let edge = mentions("edge", &["crate::cloud"]);
    assert!(edge.is_empty(), "edge code importing cloud code (move the shared piece to src/kube.rs or another shared module):\n{}", edge.join("\n"));
    let cloud = mentions("cloud", &["crate::edge"]);
    assert!(cloud.is_empty(), "cloud code importing edge code:\n{}", cloud.join("\n"));
}

#[test]
fn the_bottom_layer_knows_neither_wing_nor_the_config() {
    for dir in ["core", "proto", "store.rs", "http.rs", "kube.rs", "quantity.rs", "tls"] {
        let hits = mentions(dir, &["crate::cloud", "crate::edge", "crate::config"]);
        assert!(hits.is_empty(), "{dir} is below both roles but imports them:\n{}", hits.join("\n"));
    }
}

#[test]
fn no_source_file_is_over_450_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let big: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 450).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(big.is_empty(), "split these by concept:\n{}", big.join("\n"));
}
