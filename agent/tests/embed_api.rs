//! The embedding API as kubelet uses cAdvisor's, as root on real cgroups: an embedded collector
//! streams the creation of a new cgroup through `watch_events`, then answers v1 and v2 container
//! info, subcontainers, machine and version info, filesystem info and directory usage for it; the
//! v2 answer carries `cpu_inst` once there are two samples.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::time::Duration;

use agent::CgroupTree;
use bpfadvisor::embed::{self, Embedded};
use bpfadvisor::events::store::EventRequest;
use bpfadvisor::host::HostPaths;
use bpfadvisor::model::v1::{ContainerInfoRequest, EventType};
use futures::StreamExt;

#[test]
fn embedded_collector_answers_kubelets_questions() {
    let host = HostPaths::local();
    if let Some(why) = agent::cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, why);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let name = format!("/bpfa-embed-{}", std::process::id());
    runtime.block_on(async {
        let mut tree = CgroupTree::new(&host);
        let config = embed::config_from_flags([
            "--housekeeping_interval=1s",
            "--allow_dynamic_housekeeping=false",
        ])
        .unwrap();
        let agent = Embedded::start(&config).await.unwrap();
        assert!(agent.wait_for_stats(Duration::from_secs(20)).await);

        let mut events = agent.watch_events(EventRequest {
            name: name.clone(),
            types: vec![EventType::ContainerCreation, EventType::ContainerDeletion],
            ..EventRequest::default()
        });
        tree.mkdir(&name).unwrap();
        tree.spawn(&name, "exec sleep 600").unwrap();
        let created = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("a creation event within 10 s")
            .expect("the stream is open");
        assert_eq!(created.container_name, name);
        assert_eq!(created.event_type, EventType::ContainerCreation);
        assert!(
            agent
                .events(&EventRequest {
                    name: name.clone(),
                    types: vec![EventType::ContainerCreation],
                    ..EventRequest::default()
                })
                .iter()
                .any(|e| e.container_name == name)
        );

        // Two samples, so the v2 answer has a CPU rate.
        let mut v2 = Default::default();
        for _ in 0..50 {
            v2 = agent.container_info_v2(&name, 2, false).unwrap();
            if v2[&name].stats.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let info = &v2[&name];
        assert_eq!(info.stats.len(), 2, "{info:?}");
        assert!(info.stats[1].cpu_inst.is_some(), "{info:?}");
        assert!(info.spec.has_memory);

        let v1 = agent
            .container_info(&name, &ContainerInfoRequest::default())
            .unwrap();
        assert_eq!(v1.reference.name, name);
        assert!(!v1.stats.is_empty());
        assert!(
            v1.spec.memory.limit > 0,
            "unset limit is the machine's memory"
        );
        let root = agent
            .container_info("/", &ContainerInfoRequest::default())
            .unwrap();
        assert!(root.subcontainers.iter().any(|s| s.name == name));
        let all = agent
            .subcontainers_info("/", &ContainerInfoRequest::default())
            .unwrap();
        assert!(all.iter().any(|c| c.reference.name == name));
        assert!(
            agent
                .container_info("/no-such-cgroup", &Default::default())
                .is_err()
        );
        let recursive = agent.container_info_v2("/", 1, true).unwrap();
        assert!(recursive.contains_key("/") && recursive.contains_key(&name));

        assert!(agent.machine_info().num_cores > 0);
        assert!(!agent.version_info().kernel_version.is_empty());
        let root_fs = agent.root_fs_info().unwrap();
        assert!(
            root_fs.capacity > 0 && !root_fs.mountpoint.is_empty(),
            "{root_fs:?}"
        );
        agent.images_fs_info().unwrap();
        let tmp_fs = agent.dir_fs_info(std::path::Path::new("/")).unwrap();
        assert_eq!(tmp_fs.device, root_fs.device);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), vec![1u8; 64 << 10]).unwrap();
        let usage = agent.dir_usage(dir.path(), 1000).unwrap();
        assert!(usage.bytes >= 64 << 10 && usage.inodes == 2, "{usage:?}");

        // Kills the process and removes the cgroup.
        drop(tree);
        let deleted = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("a deletion event within 10 s")
            .expect("the stream is open");
        assert_eq!(deleted.event_type, EventType::ContainerDeletion);
    });
}
