//! Referenced memory (`referenced_memory` kind): the sum of `Referenced:` over the container's
//! processes, optionally reset through `clear_refs` every N-th sample (`--referenced_reset_interval`),
//! which turns the figure into "memory touched since the last reset" (a working-set estimate).
//!
//! cAdvisor sums the per-mapping lines of `<proc>/<pid>/smaps`; the kernel's `smaps_rollup`
//! (4.14+) carries the same sum in one line for a fraction of the cost, so it is read first and
//! `smaps` only when it is missing.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use super::files::{Buf, read_once};
use super::parse::ParseError;

/// Sum of the `Referenced:` lines of an `smaps` or `smaps_rollup` text, in kB.
pub fn parse_referenced_kb(text: &str) -> Result<u64, ParseError> {
    let mut kb = 0u64;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("Referenced:") else {
            continue;
        };
        let v = rest
            .trim()
            .strip_suffix("kB")
            .map(str::trim)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| ParseError {
                what: "smaps Referenced",
                line: line.to_string(),
            })?;
        kb = kb.saturating_add(v);
    }
    Ok(kb)
}

/// One container's referenced-bytes reader: counts samples to know when to reset.
#[derive(Debug, Default)]
pub struct Referenced {
    cycles: u64,
}

impl Referenced {
    /// Referenced bytes of `pids`, then (every `reset_interval`-th call, when non-zero) a reset of
    /// their referenced bits. A pid that exits meanwhile, or whose files cannot be read, is skipped.
    pub fn read(
        &mut self,
        buf: &mut Buf,
        proc_root: &Path,
        pids: &[u32],
        reset_interval: u64,
    ) -> u64 {
        self.cycles += 1;
        let mut kb = 0u64;
        for pid in pids {
            let dir = proc_root.join(pid.to_string());
            let v = match read_once(dir.join("smaps_rollup"), buf, parse_referenced_kb) {
                Ok(Some(v)) => Some(v),
                _ => read_once(dir.join("smaps"), buf, parse_referenced_kb)
                    .ok()
                    .flatten(),
            };
            kb = kb.saturating_add(v.unwrap_or(0));
        }
        if reset_interval > 0 && self.cycles.is_multiple_of(reset_interval) {
            for pid in pids {
                clear_refs(&proc_root.join(pid.to_string()).join("clear_refs"));
            }
        }
        kb.saturating_mul(1024)
    }
}

/// Writes `1` (clear the referenced bits of all pages) to a `clear_refs` file. Best effort: the
/// process may be gone, and kernel threads have no such file.
fn clear_refs(path: &Path) {
    if let Ok(mut f) = OpenOptions::new().write(true).open(path) {
        let _ = f.write_all(b"1\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `/proc/<pid>/smaps_rollup` of `sleep 300`, kernel 6.18 (fixture procnet-kernel618).
    const ROLLUP: &str =
        include_str!("../../tests/fixtures/procnet-kernel618/proc/4242/smaps_rollup");
    // `/proc/<pid>/smaps` of the same process at the same moment.
    const SMAPS: &str = include_str!("../../tests/fixtures/procnet-kernel618/proc/4242/smaps");

    #[test]
    fn rollup_and_smaps_agree() {
        assert_eq!(parse_referenced_kb(ROLLUP).expect("rollup"), 224);
        assert_eq!(parse_referenced_kb(SMAPS).expect("smaps"), 224);
    }

    #[test]
    fn bad_referenced_line_is_an_error() {
        let e = parse_referenced_kb("Rss: 4 kB\nReferenced:   x kB\n").expect_err("must fail");
        assert_eq!(e.line, "Referenced:   x kB");
        assert_eq!(parse_referenced_kb("Rss: 4 kB\n").expect("none"), 0);
    }

    #[test]
    fn reads_fixture_pids_and_skips_missing_ones() {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/procnet-kernel618/proc");
        let mut r = Referenced::default();
        let mut buf = Buf::default();
        assert_eq!(r.read(&mut buf, &root, &[4242, 999_999], 0), 224 * 1024);
    }

    #[test]
    fn resets_every_nth_cycle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("7");
        std::fs::create_dir(&p).expect("mkdir");
        std::fs::write(p.join("smaps_rollup"), "Referenced:  8 kB\n").expect("write");
        std::fs::write(p.join("clear_refs"), "").expect("write");
        let mut r = Referenced::default();
        let mut buf = Buf::default();
        let cleared = || std::fs::read_to_string(p.join("clear_refs")).expect("read");
        assert_eq!(r.read(&mut buf, dir.path(), &[7], 2), 8192);
        assert_eq!(cleared(), "");
        r.read(&mut buf, dir.path(), &[7], 2);
        assert_eq!(cleared(), "1\n");
    }
}
