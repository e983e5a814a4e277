//! MachineInfo of the machine the tests run on, checked against the kernel's own tools.

use std::process::Command;

use bpfadvisor::fs::statvfs;
use bpfadvisor::host::HostPaths;
use bpfadvisor::machine::{MachineOptions, machine_info_with_warnings, version_info};

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn live_machine_matches_kernel_facts() {
    let host = HostPaths::local();
    let (m, warnings) = machine_info_with_warnings(&host, &MachineOptions::defaults(&host));
    eprintln!("warnings: {:?}", warnings.0);

    if let Some(nproc) = command_output("nproc", &[]) {
        assert_eq!(m.num_cores.to_string(), nproc, "num_cores = online CPUs");
    }
    let meminfo = std::fs::read_to_string(host.proc.join("meminfo")).expect("meminfo");
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("MemTotal");
    assert_eq!(m.memory_capacity, kb * 1024);

    // Every online CPU exactly once in the topology.
    let mut threads: Vec<i32> = m
        .topology
        .iter()
        .flat_map(|n| &n.cores)
        .flat_map(|c| c.thread_ids.clone())
        .collect();
    threads.sort_unstable();
    let online =
        std::fs::read_to_string(host.sys.join("devices/system/cpu/online")).expect("online");
    let expected = bpfadvisor::machine::topology::parse_cpu_list(&online).expect("cpu list");
    assert_eq!(threads, expected);

    // The filesystem of `/` is listed with statvfs's capacity.
    let root_dev = command_output("findmnt", &["-n", "-o", "SOURCE", "/"]);
    let (capacity, ..) = statvfs(&host.root).expect("statvfs /");
    match root_dev {
        Some(dev) if dev.starts_with("/dev/") => {
            let fs = m
                .filesystems
                .iter()
                .find(|f| f.device == dev)
                .expect("root device listed");
            assert_eq!(fs.capacity, capacity);
            assert!(fs.has_inodes && fs.inodes > 0);
        }
        other => {
            eprintln!("skipping root filesystem check - root is not a block device ({other:?})")
        }
    }

    assert!(!m.machine_id.is_empty() && !m.boot_id.is_empty());
    assert!(m.timestamp.as_unix_secs_f64() > 1.7e9);
    let json = serde_json::to_string(&m).expect("serializes");
    assert!(json.contains(r#""app direct_mode_capacity":0"#));
}

#[test]
fn live_version_info() {
    let v = version_info(&HostPaths::local());
    if let Some(release) = command_output("uname", &["-r"]) {
        assert_eq!(v.kernel_version, release);
    }
    assert!(!v.container_os_version.is_empty());
    assert_eq!(
        (v.docker_version.as_str(), v.docker_api_version.as_str()),
        ("", "")
    );
    assert_eq!(v.cadvisor_version, concat!("v", env!("CARGO_PKG_VERSION")));
}

#[test]
#[ignore = "prints the live MachineInfo JSON for eyeballing"]
fn print_live_machine_json() {
    let host = HostPaths::local();
    let m = bpfadvisor::machine::machine_info(&host, &MachineOptions::defaults(&host));
    println!(
        "{}",
        String::from_utf8_lossy(&bpfadvisor::model::to_go_json(&m))
    );
}
