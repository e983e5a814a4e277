//! `promtool check metrics` on an exposition. Include it with
//! `#[path = "support/promtool.rs"] mod promtool;`.

use std::io::Write as _;
use std::process::{Command, Stdio};

include!("prereq.rs");

/// What `promtool check metrics` said of `text`: `(exit status was success, stdout + stderr)`, or
/// `None` when promtool is not installed (a [`missing`] tool: skip, or fail in CI).
pub fn check_metrics(text: &[u8]) -> Option<(bool, String)> {
    let installed = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        return missing_none(
            Need::Tool,
            "promtool not installed (apt-get install prometheus)",
        );
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text)
        .expect("write to promtool");
    let res = child.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    Some((res.status.success(), said))
}

/// `promtool check metrics` accepts `text` with no finding at all.
#[allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]
pub fn assert_clean(text: &str) {
    if let Some((ok, said)) = check_metrics(text.as_bytes()) {
        assert!(ok, "promtool: {said}\n{text}");
    }
}
