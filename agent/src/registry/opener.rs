//! Reads new containers' cgroup files on a thread of its own.
//!
//! Reading a container (a stat per hierarchy, opening its stats files, a dozen small reads for the
//! spec) takes a good part of a millisecond, more while a runtime is creating cgroups in the same
//! hierarchies (kernfs takes the hierarchy's lock for every mkdir). Done on the owner task, every
//! event behind it would wait that long; here the owner only records events and installs what this
//! thread hands back. The thread runs at a lower priority than the tokio workers
//! ([`crate::priority`]); [`Reads`] is the owner's side of it.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::time::SystemTime;

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
    ticket: u64,
    pub opened: Opened,
}

/// Sends requests to the opener thread; the thread ends when this is dropped.
struct Opener {
    requests: std_mpsc::Sender<Request>,
}

impl Opener {
    /// Starts the thread; its answers arrive on the returned receiver, in request order.
    fn spawn(
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
    fn request(&self, name: &str, ticket: u64, machine_memory: u64) -> bool {
        self.requests
            .send(Request {
                name: name.to_string(),
                ticket,
                machine_memory,
            })
            .is_ok()
    }
}

/// A read handed to the opener thread.
pub(super) struct Opening {
    ticket: u64,
    /// When the creation was seen.
    pub at: SystemTime,
    /// A new reader for an installed container (see `Owner::complete`).
    pub rebuild: bool,
    /// More of its directories appeared while it was read: check again once installed.
    pub again: bool,
}

/// The owner's side of the opener: announced containers queued for reading, and the reads in
/// flight, by container name. Only the newest request's answer for a name counts; an answer for one
/// since cancelled or superseded is dropped, and with it the reader's files.
#[derive(Default)]
pub(super) struct Reads {
    opener: Option<Opener>,
    /// Announced in the current batch, asked for after it (see the owner's module docs).
    queued: HashMap<String, SystemTime>,
    in_flight: HashMap<String, Opening>,
    tickets: u64,
}

impl Reads {
    /// Starts the opener thread; until then (or when it cannot start) `request` declines and the
    /// owner reads containers itself.
    pub fn start(
        &mut self,
        layout: Layout,
        host: HostPaths,
    ) -> std::io::Result<mpsc::UnboundedReceiver<Done>> {
        let (opener, answers) = Opener::spawn(layout, host)?;
        self.opener = Some(opener);
        Ok(answers)
    }

    pub fn has_thread(&self) -> bool {
        self.opener.is_some()
    }

    /// The thread is gone: containers are read by the owner from now on. Reads in flight are never
    /// answered: new containers wait for the owner's next rescan (`take_unread`), rebuilds are
    /// forgotten so they can be asked for again.
    pub fn lost_thread(&mut self) {
        if self.opener.take().is_some() {
            warn!("the cgroup opener thread is gone; reading containers on the owner task");
        }
        self.in_flight.retain(|_, o| !o.rebuild);
    }

    /// Hands `name` to the thread; false when there is none (any more), and the caller reads it.
    pub fn request(
        &mut self,
        name: &str,
        at: SystemTime,
        rebuild: bool,
        machine_memory: u64,
    ) -> bool {
        self.tickets += 1;
        let ticket = self.tickets;
        if self
            .opener
            .as_ref()
            .is_some_and(|o| o.request(name, ticket, machine_memory))
        {
            let o = Opening {
                ticket,
                at,
                rebuild,
                again: false,
            };
            self.in_flight.insert(name.to_string(), o);
            return true;
        }
        self.lost_thread();
        false
    }

    /// The request `done` answers, when it is still the newest for its name (it is then settled).
    pub fn answered(&mut self, done: &Done) -> Option<Opening> {
        match self.in_flight.get(&done.name) {
            Some(o) if o.ticket == done.ticket => self.in_flight.remove(&done.name),
            _ => None,
        }
    }

    /// Queues announced `name` (seen at `at`) for reading after the current batch.
    pub fn queue(&mut self, name: &str, at: SystemTime) {
        self.queued.insert(name.to_string(), at);
    }

    pub fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    /// The queued containers, to be requested now.
    pub fn take_queued(&mut self) -> HashMap<String, SystemTime> {
        std::mem::take(&mut self.queued)
    }

    /// Another hierarchy's directory of `name` appeared: true when `name` is queued or being read
    /// (a read in flight then checks for missing directories again once installed).
    pub fn saw_another_dir(&mut self, name: &str) -> bool {
        if let Some(o) = self.in_flight.get_mut(name) {
            o.again = true;
            return true;
        }
        self.queued.contains_key(name)
    }

    /// Whether a not yet installed container `name` is queued or being read.
    pub fn is_unread(&self, name: &str) -> bool {
        self.queued.contains_key(name) || self.in_flight.get(name).is_some_and(|o| !o.rebuild)
    }

    /// Forgets `name`: dequeued, and its answer will be dropped.
    pub fn cancel(&mut self, name: &str) {
        self.queued.remove(name);
        self.in_flight.remove(name);
    }

    /// Dequeues and cancels the reads of containers not yet installed (the owner reads them itself
    /// now): their names and when they were seen.
    pub fn take_unread(&mut self) -> Vec<(String, SystemTime)> {
        let mut unread: Vec<(String, SystemTime)> = self.queued.drain().collect();
        self.in_flight.retain(|name, o| {
            if o.rebuild {
                return true;
            }
            unread.push((name.clone(), o.at));
            false
        });
        unread
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

    #[tokio::test]
    async fn only_the_newest_uncancelled_request_is_answered() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup-v2-kernel61");
        let host = HostPaths::under(&root);
        let layout = Layout::detect(&host).expect("fixture layout");
        let name = "/vmtest-pids";
        let now = SystemTime::now();

        let mut reads = Reads::default();
        assert!(!reads.request(name, now, false, 1 << 30), "no thread yet");
        let mut done = reads.start(layout, host).expect("thread");
        assert!(reads.has_thread());

        // Superseded: the first answer is dropped, the second settles the read.
        assert!(reads.request(name, now, false, 1 << 30));
        assert!(reads.request(name, now, false, 1 << 30));
        let first = done.recv().await.expect("answer");
        assert!(reads.answered(&first).is_none());
        let second = done.recv().await.expect("answer");
        let settled = reads.answered(&second).expect("newest request");
        assert!(!settled.rebuild && !settled.again);
        assert!(reads.answered(&second).is_none(), "settled once");

        // Cancelled.
        assert!(reads.request(name, now, false, 1 << 30));
        assert!(reads.is_unread(name));
        reads.cancel(name);
        assert!(
            reads
                .answered(&done.recv().await.expect("answer"))
                .is_none()
        );

        // Queued: unread until asked for; cancelled, or taken over by the owner.
        reads.queue("/q", now);
        assert!(reads.has_queued() && reads.is_unread("/q") && reads.saw_another_dir("/q"));
        reads.cancel("/q");
        assert!(!reads.has_queued() && !reads.is_unread("/q"));
        reads.queue("/q", now);
        let taken: Vec<String> = reads.take_unread().into_iter().map(|(n, _)| n).collect();
        assert_eq!(taken, ["/q"]);
        assert!(!reads.has_queued());

        // Taken over by the owner: unread containers go, rebuilds of installed ones stay.
        assert!(reads.request("/a", now, false, 1 << 30));
        assert!(reads.request("/b", now, true, 1 << 30));
        let unread = reads.take_unread();
        assert_eq!(
            unread.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["/a"]
        );
        assert!(!reads.is_unread("/a") && reads.saw_another_dir("/b"));
    }
}
