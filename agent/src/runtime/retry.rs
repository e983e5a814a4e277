//! What every runtime client does while its runtime is unreachable: say so (once per outage) and
//! wait out the backoff while still collecting the cgroup names asked about, answered once it is back.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::sync::mpsc;

use super::RuntimeKind;
use super::cache::StatusBoard;
use super::id;

/// Marks `kind` disconnected with `reason`. Logs when the runtime goes away and on the first failed
/// attempt after a (re)start, not on every retry.
pub(crate) fn report_unavailable(
    status: &StatusBoard,
    kind: RuntimeKind,
    endpoint: &str,
    reason: &str,
    first_failure: &mut bool,
) {
    let flipped = status.update(kind, |s| {
        s.connected = false;
        s.last_error = reason.to_string();
    });
    if flipped || *first_failure {
        tracing::warn!(runtime = ?kind, endpoint, error = %reason, "container runtime unavailable; containers stay raw cgroups until it returns");
        *first_failure = false;
    }
}

/// Sleeps `backoff`, recording every name asked about meanwhile under its runtime id. `false` when
/// the request channel closed (the agent is shutting down).
pub(crate) async fn backoff_collecting(
    backoff: Duration,
    req_rx: &mut mpsc::UnboundedReceiver<String>,
    names: &mut HashMap<String, BTreeSet<String>>,
) -> bool {
    let sleep = tokio::time::sleep(backoff);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return true,
            r = req_rx.recv() => match r {
                Some(name) => {
                    if let Some(c) = id::classify(&name) {
                        names.entry(c.id).or_default().insert(name);
                    }
                }
                None => return false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[tokio::test]
    async fn backoff_keeps_names_and_stops_on_close() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut names = HashMap::new();
        tx.send(format!("/docker/{ID}")).expect("send");
        tx.send("/system.slice/not-a-container.mount".to_string())
            .expect("send");
        assert!(backoff_collecting(Duration::from_millis(20), &mut rx, &mut names).await);
        assert_eq!(names.len(), 1);
        assert!(names[ID].contains(&format!("/docker/{ID}")));
        drop(tx);
        assert!(!backoff_collecting(Duration::from_secs(5), &mut rx, &mut names).await);
    }

    #[test]
    fn an_outage_is_reported_once() {
        let board = StatusBoard::default();
        let mut first = true;
        report_unavailable(&board, RuntimeKind::Crio, "/x.sock", "refused", &mut first);
        assert!(!first);
        report_unavailable(&board, RuntimeKind::Crio, "/x.sock", "refused", &mut first);
        assert!(!first);
    }
}
