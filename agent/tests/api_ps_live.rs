//! `/api/v2.0/ps` against this machine's procfs: the root lists every process (this one included),
//! and a container lists exactly the processes of its memory cgroup.

#[path = "support/fake_query.rs"]
mod fake_query;
#[path = "support/prereq.rs"]
mod prereq;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use bpfadvisor::api::{ApiContext, router};
use bpfadvisor::host::HostPaths;
use bpfadvisor::model::machine::MachineInfo;
use fake_query::FakeQuery;
use serde_json::Value;
use tower::ServiceExt;

fn app(names: &[&str]) -> Router {
    let query = FakeQuery::builder()
        .machine(MachineInfo {
            memory_capacity: 1 << 30,
            ..Default::default()
        })
        .containers(names.iter().copied())
        .host(HostPaths::local())
        .build();
    router(ApiContext {
        query,
        url_base_prefix: String::new(),
    })
}

async fn ps(app: &Router, name: &str) -> Vec<Value> {
    let req = Request::builder()
        .uri(format!("/api/v2.0/ps/{name}"))
        .body(Body::empty())
        .expect("request");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let b = axum::body::to_bytes(res.into_body(), 1 << 26)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&b).into_owned();
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str::<Vec<Value>>(&text).expect("array")
}

#[tokio::test]
async fn root_lists_this_process() {
    let host = HostPaths::local();
    let me = std::process::id();
    let comm = std::fs::read_to_string(host.proc.join(me.to_string()).join("comm"))
        .expect("own comm")
        .trim_end()
        .to_owned();
    let list = ps(&app(&["/"]), "").await;
    let mine = list
        .iter()
        .find(|p| p["pid"] == me)
        .expect("this process is listed");
    assert_eq!(mine["cmd"], comm.as_str());
    assert_eq!(mine["parent_pid"], std::os::unix::process::parent_id());
    assert!(mine["rss"].as_u64().expect("rss") > 0);
    assert!(mine["fd_count"].as_u64().expect("fds") >= 3);
    assert!(
        mine["status"]
            .as_str()
            .expect("stat")
            .starts_with(['R', 'S'])
    );
    assert!(list.iter().any(|p| p["pid"] == 1), "pid 1 is listed");
}

/// A v1 memory cgroup holding one `sleep`; removed (and the child killed) on drop.
struct CgroupWithSleep {
    dir: PathBuf,
    child: Child,
}

impl Drop for CgroupWithSleep {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The kernel refuses rmdir until the killed task has left the cgroup.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test]
async fn container_lists_only_its_processes() {
    let memory = HostPaths::local().cgroup.join("memory");
    if !memory.join("cgroup.procs").exists() {
        prereq::missing(prereq::Need::Root, "no cgroup v1 memory hierarchy");
        return;
    }
    let name = format!("bpfadvisor-api-ps-{}", std::process::id());
    let dir = memory.join(&name);
    if let Err(e) = std::fs::create_dir(&dir) {
        prereq::missing(
            prereq::Need::Root,
            &format!("cannot create a memory cgroup ({e}); needs root"),
        );
        return;
    }
    let child = match Command::new("sleep").arg("30").spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir(&dir);
            prereq::missing(prereq::Need::Tool, &format!("cannot run sleep ({e})"));
            return;
        }
    };
    let guard = CgroupWithSleep { dir, child };
    std::fs::write(guard.dir.join("cgroup.procs"), guard.child.id().to_string())
        .expect("move sleep into the cgroup");
    let cname = format!("/{name}");
    let list = ps(&app(&["/", &cname]), &name).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["pid"], guard.child.id());
    assert_eq!(list[0]["cmd"], "sleep");
    assert_eq!(
        list[0]["cgroup_path"], "",
        "blanked for a non-root container"
    );
    let all = ps(&app(&["/", &cname]), "").await;
    let sleeper = all
        .iter()
        .find(|p| p["pid"] == guard.child.id())
        .expect("listed under /");
    assert_eq!(sleeper["cgroup_path"], cname.as_str());
}
