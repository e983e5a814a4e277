//! Cheap guards that keep data flowing one way, checked over this crate's own source text:
//! - no `"/proc"` or `"/sys"` path literal outside `host.rs` (every reader takes its root);
//! - no environment variable read outside `config.rs`;
//! - nothing under `api/`, `metrics/` or `kube/` (the consumers) imports the registry or touches
//!   the file system: they read snapshots, events and host facts through `query`.
//!
//! Unit tests (the part of a file from `#[cfg(test)] mod tests` on, and `tests.rs` files) may build
//! fixture trees with any path; comments may name any path.

use std::path::{Path, PathBuf};

/// Path literals only `host.rs` may hold.
const HOST_LITERALS: [&str; 4] = ["\"/proc\"", "\"/proc/", "\"/sys\"", "\"/sys/"];

/// Only `config.rs` reads the environment.
const ENV_READS: [&str; 1] = ["env::var"];

/// What consumers may not name.
const CONSUMER_FORBIDDEN: [&str; 5] = [
    "crate::registry",
    "bpfadvisor::registry",
    "std::fs",
    "tokio::fs",
    "File::",
];

/// The consumer modules.
const CONSUMERS: [&str; 3] = ["api", "metrics", "kube"];

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            source_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The lines of `text` that are production code (not comments, not the unit-test module), numbered
/// from 1.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

/// `file:line: text` of every code line holding one of `needles`.
fn offences(file: &str, text: &str, needles: &[&str]) -> Vec<String> {
    code_lines(text)
        .filter(|(_, l)| needles.iter().any(|n| l.contains(n)))
        .map(|(n, l)| format!("{file}:{n}: {}", l.trim()))
        .collect()
}

fn check_tree(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    source_files(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let rel = path.strip_prefix(src).unwrap_or(&path);
        if rel
            .file_name()
            .is_some_and(|n| n == "tests.rs" || n == "layering.rs")
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            out.push(format!("{}: unreadable", rel.display()));
            continue;
        };
        let name = rel.display().to_string();
        if rel != Path::new("host.rs") {
            out.extend(offences(&name, &text, &HOST_LITERALS));
        }
        if rel != Path::new("config.rs") {
            out.extend(offences(&name, &text, &ENV_READS));
        }
        if CONSUMERS.iter().any(|c| rel.starts_with(c)) {
            out.extend(offences(&name, &text, &CONSUMER_FORBIDDEN));
        }
    }
    out
}

#[test]
fn data_flows_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(src.join("host.rs").is_file(), "source tree not found");
    let found = check_tree(&src);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn the_guard_sees_what_it_forbids() {
    let text = "//! Reads /proc.\nuse crate::registry::RegistryHandle;\nfn f() { let p = \"/proc/self\"; }\n// \"/sys/x\"\n#[cfg(test)]\nmod tests {\n    const X: &str = \"/sys/fs\";\n}\n";
    assert_eq!(
        offences("a.rs", text, &HOST_LITERALS),
        ["a.rs:3: fn f() { let p = \"/proc/self\"; }"]
    );
    assert_eq!(
        offences("a.rs", text, &CONSUMER_FORBIDDEN),
        ["a.rs:2: use crate::registry::RegistryHandle;"]
    );
    // `/system.slice` is no sysfs path.
    assert!(offences("a.rs", "let s = \"/system.slice\";", &HOST_LITERALS).is_empty());
}
