//! The log's writer: stderr that never fails its caller. A log line that cannot be written (the disk
//! under a redirected stderr is full, the pipe's reader is gone) is counted and dropped; the first
//! line written afterwards is preceded by one line saying how many were lost and why.
//!
//! `tracing-subscriber` reports a failed write with `eprintln!`, which panics when stderr itself
//! fails: without this writer a full disk under the log crashed the agent.

use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::fmt::MakeWriter;

/// Lines dropped since the last successful write, and the error of the first of them.
#[derive(Debug, Default)]
struct Lost {
    lines: AtomicU64,
    error: Mutex<Option<String>>,
}

/// Makes a [`LossyWriter`] over `W` per event; `json` shapes the "lines lost" note like the log.
#[derive(Debug)]
pub struct LossyStderr<W = fn() -> io::Stderr> {
    open: W,
    json: bool,
    lost: Lost,
}

impl LossyStderr {
    pub fn new(json: bool) -> Self {
        Self::over(io::stderr, json)
    }
}

impl<W> LossyStderr<W> {
    /// Over any writer factory (tests pass one that fails).
    pub fn over(open: W, json: bool) -> Self {
        Self {
            open,
            json,
            lost: Lost::default(),
        }
    }

    fn note(&self, lines: u64, error: &str) -> String {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let msg = format!("{lines} log lines lost: writing the log failed: {error}");
        if self.json {
            let v = serde_json::json!({
                "timestamp": now,
                "level": "WARN",
                "message": msg,
                "target": module_path!(),
            });
            format!("{v}\n")
        } else {
            format!("{now}  WARN {}: {msg}\n", module_path!())
        }
    }
}

/// One event's writer: every write "succeeds"; a failed one is counted in its [`LossyStderr`].
pub struct LossyWriter<'a, W, T> {
    parent: &'a LossyStderr<W>,
    out: T,
}

impl<W, T: Write> Write for LossyWriter<'_, W, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let lost = &self.parent.lost;
        let n = lost.lines.load(Ordering::Relaxed);
        if n > 0 {
            let error = lost
                .error
                .lock()
                .ok()
                .and_then(|mut e| e.take())
                .unwrap_or_default();
            if self
                .out
                .write_all(self.parent.note(n, &error).as_bytes())
                .is_err()
            {
                if let Ok(mut e) = lost.error.lock() {
                    e.get_or_insert(error);
                }
                lost.lines.fetch_add(1, Ordering::Relaxed);
                return Ok(buf.len());
            }
            lost.lines.fetch_sub(n, Ordering::Relaxed);
        }
        if let Err(e) = self.out.write_all(buf) {
            if let Ok(mut slot) = lost.error.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
            lost.lines.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.out.flush();
        Ok(())
    }
}

impl<'a, W, T> MakeWriter<'a> for LossyStderr<W>
where
    W: Fn() -> T + 'a,
    T: Write,
{
    type Writer = LossyWriter<'a, W, T>;

    fn make_writer(&'a self) -> Self::Writer {
        LossyWriter {
            parent: self,
            out: (self.open)(),
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a failing test should panic")]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// A sink that fails while `full` is set and keeps what it accepted.
    #[derive(Clone, Default)]
    struct Disk {
        full: Arc<AtomicBool>,
        text: Arc<Mutex<String>>,
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.full.load(Ordering::Relaxed) {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            self.text
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(buf));
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_lost_on_a_full_disk_are_counted_once_space_returns() {
        let disk = Disk::default();
        let d = disk.clone();
        let w = LossyStderr::over(move || d.clone(), false);
        w.make_writer().write_all(b"first\n").unwrap();
        disk.full.store(true, Ordering::Relaxed);
        for _ in 0..3 {
            // Never an error to the caller.
            w.make_writer().write_all(b"dropped\n").unwrap();
        }
        disk.full.store(false, Ordering::Relaxed);
        w.make_writer().write_all(b"again\n").unwrap();
        w.make_writer().write_all(b"more\n").unwrap();
        let text = disk.text.lock().unwrap().clone();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "first");
        assert!(
            lines[1].contains("WARN")
                && lines[1].contains("3 log lines lost: writing the log failed: No space left"),
            "{}",
            lines[1]
        );
        assert_eq!(&lines[2..], ["again", "more"]);
    }

    #[test]
    fn the_note_is_json_in_json_logs() {
        let disk = Disk::default();
        let d = disk.clone();
        let w = LossyStderr::over(move || d.clone(), true);
        disk.full.store(true, Ordering::Relaxed);
        w.make_writer().write_all(b"{}\n").unwrap();
        disk.full.store(false, Ordering::Relaxed);
        w.make_writer().write_all(b"{}\n").unwrap();
        let text = disk.text.lock().unwrap().clone();
        let note: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(note["level"], "WARN");
        assert!(
            note["message"]
                .as_str()
                .unwrap()
                .starts_with("1 log lines lost")
        );
    }
}
