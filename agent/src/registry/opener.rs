//! Reads new containers' cgroup files on a thread of its own.
//!
//! Reading a container (a stat per hierarchy, opening its stats files, a dozen small reads for the
//! spec) takes a good part of a millisecond, more while a runtime is creating cgroups in the same
//! hierarchies (kernfs takes the hierarchy's lock for every mkdir). Done on the owner task, every
//! event behind it would wait that long; here the owner only records events and installs what this
//! thread hands back. The thread runs at a lower priority than the tokio workers
//! ([`crate::priority`]). Which answer counts (tickets) is the lifecycle's business
//! ([`super::lifecycle`]).

use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;
use tracing::warn;

use crate::cgroup::{CgroupError, ContainerReader, Layout};
use crate::host::HostPaths;
use crate::model::v1::ContainerSpec;

/// Why a container could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unopened {
    /// The cgroup was removed before it could be read.
    Gone,
    /// Unreadable for another reason (logged).
    Refused,
}

pub(super) type Opened = Result<(ContainerReader, ContainerSpec), Unopened>;

/// A reader for `name` and its cgroup spec (`machine_memory` stands in for an unlimited memory
/// limit).
pub(super) fn open(layout: &Layout, host: &HostPaths, name: &str, machine_memory: u64) -> Opened {
    // Not while only a hierarchy containers are not listed from (a hybrid host's unified one) still
    // has it: a creation event that lost the race with the removal must not bring it back.
    if !layout.exists(name) {
        return Err(Unopened::Gone);
    }
    let mut reader = match ContainerReader::new(layout, host, name) {
        Ok(r) => r,
        Err(CgroupError::Gone { .. }) => return Err(Unopened::Gone),
        Err(e) => {
            warn!(container = name, error = %e, "cannot watch container");
            return Err(Unopened::Refused);
        }
    };
    let spec = match reader.read_spec(machine_memory) {
        Ok(s) => s,
        Err(CgroupError::Gone { .. }) => return Err(Unopened::Gone),
        Err(e) => {
            warn!(container = name, error = %e, "cannot read container spec");
            ContainerSpec::default()
        }
    };
    Ok((reader, spec))
}

struct Request {
    name: String,
    ticket: u64,
    machine_memory: u64,
}

/// What the thread read for a request; `ticket` is the request's.
pub(super) struct Done {
    pub name: String,
    pub ticket: u64,
    pub opened: Opened,
}

/// Sends requests to the opener thread; the thread ends when this is dropped.
pub(super) struct Opener {
    requests: std_mpsc::Sender<Request>,
}

impl Opener {
    /// Starts the thread; its answers arrive on the returned receiver, in request order.
    pub fn spawn(
        layout: Layout,
        host: HostPaths,
    ) -> std::io::Result<(Self, mpsc::UnboundedReceiver<Done>)> {
        let (requests, incoming) = std_mpsc::channel::<Request>();
        let (done, answers) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("cgroup-open".into())
            .spawn(move || {
                crate::priority::lower_for_bulk_work();
                for r in incoming {
                    let opened = open(&layout, &host, &r.name, r.machine_memory);
                    let answer = Done {
                        name: r.name,
                        ticket: r.ticket,
                        opened,
                    };
                    if done.send(answer).is_err() {
                        return;
                    }
                }
            })?;
        Ok((Self { requests }, answers))
    }

    /// Asks for `name` to be read; false when the thread is gone.
    pub fn request(&self, name: &str, ticket: u64, machine_memory: u64) -> bool {
        self.requests
            .send(Request {
                name: name.to_string(),
                ticket,
                machine_memory,
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn reads_a_present_cgroup_and_reports_a_missing_one_gone() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup-v2-kernel61");
        let host = HostPaths::under(&root);
        let layout = Layout::detect(&host).expect("fixture layout");
        let (_, spec) = open(&layout, &host, "/vmtest-pids", 1 << 30).expect("fixture container");
        assert!(spec.has_memory);
        assert!(matches!(
            open(&layout, &host, "/nowhere", 1 << 30),
            Err(Unopened::Gone)
        ));
    }

    #[tokio::test]
    async fn answers_requests_in_order_on_its_thread() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup-v2-kernel61");
        let host = HostPaths::under(&root);
        let layout = Layout::detect(&host).expect("fixture layout");
        let (opener, mut done) = Opener::spawn(layout, host).expect("thread");
        assert!(opener.request("/nowhere", 1, 1 << 30));
        assert!(opener.request("/vmtest-pids", 2, 1 << 30));
        let first = done.recv().await.expect("first answer");
        assert_eq!((first.name.as_str(), first.ticket), ("/nowhere", 1));
        assert!(matches!(first.opened, Err(Unopened::Gone)));
        let second = done.recv().await.expect("second answer");
        assert_eq!(second.ticket, 2);
        assert!(second.opened.is_ok());
        drop(opener);
        assert!(
            done.recv().await.is_none(),
            "the thread ends with its sender"
        );
    }
}
