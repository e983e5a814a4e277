//! The BPF cgroup iterator's counters against the v1 files they replace, as root: a test cgroup
//! that ran a CPU- and memory-hungry shell under a CFS quota (so every counter is non-zero), then
//! stands idle; each counter from one iterator read must equal the file's number exactly.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use agent::{CgroupTree, Need, cgroup_skip_reason, missing};
use bpfadvisor::cgroup::Layout;
use bpfadvisor::cgroup::counters::CounterSnapshot;
use bpfadvisor::cgroup::cpu::scaled_user_system;
use bpfadvisor::events::ebpf::counters;
use bpfadvisor::host::HostPaths;

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap()
}

fn num(dir: &Path, file: &str) -> u64 {
    read(dir, file).trim().parse().unwrap()
}

fn key(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

fn ino(dir: &Path) -> u64 {
    fs::metadata(dir).unwrap().ino()
}

/// A v1 host with root, or `None` after [`missing`].
fn v1_host() -> Option<(HostPaths, Layout)> {
    let host = HostPaths::local();
    if let Some(why) = cgroup_skip_reason(&host) {
        missing(Need::Root, why);
        return None;
    }
    let layout = Layout::detect(&host).unwrap();
    if layout.v1_dir("memory").is_none() {
        missing(
            Need::Root,
            "needs cgroup v1 hierarchies (the iterator serves v1 only)",
        );
        return None;
    }
    Some((host, layout))
}

/// Test cgroup `name` that was busy for ~0.6 s under a 20% CFS quota (throttled), touching 8 MiB
/// of memory, and is now idle: every counter non-zero and steady.
fn busy_then_idle(host: &HostPaths, name: &str) -> CgroupTree {
    let mut tree = CgroupTree::new(host);
    tree.mkdir(name).unwrap();
    tree.write("cpu", name, "cpu.cfs_quota_us", "20000")
        .unwrap();
    let pid = tree
        .spawn(
            name,
            "x=$(head -c 8388608 /dev/zero | tr '\\0' a); i=0; \
             while [ $i -lt 200000 ]; do i=$((i+1)); done",
        )
        .unwrap();
    sleep(Duration::from_secs(3));
    tree.kill(pid);
    sleep(Duration::from_millis(300));
    tree
}

#[test]
fn cgroup_counters_match_the_files() {
    let Some((host, layout)) = v1_host() else {
        return;
    };
    let mut source = match counters::start(&host, &layout) {
        Ok(s) => s,
        Err(why) => return missing(Need::Ebpf, &why),
    };
    let name = format!("/bpfadvisor-counters-{}", std::process::id());
    let tree = busy_then_idle(&host, &name);

    let mut snap = CounterSnapshot::new(4096);
    source.read(&mut snap);
    let (mem, cpu, acct) = (
        tree.dir("memory", &name),
        tree.dir("cpu", &name),
        tree.dir("cpuacct", &name),
    );
    let m = snap
        .memory(ino(&mem))
        .expect("memory counters of the test cgroup");
    assert_eq!(m.usage, num(&mem, "memory.usage_in_bytes"), "usage");
    assert_eq!(
        m.max_usage,
        num(&mem, "memory.max_usage_in_bytes"),
        "max usage"
    );
    assert!(m.max_usage >= 8 << 20, "the shell held 8 MiB: {m:?}");
    assert_eq!(m.failcnt, num(&mem, "memory.failcnt"), "failcnt");
    assert_eq!(
        m.kmem_usage,
        num(&mem, "memory.kmem.usage_in_bytes"),
        "kmem"
    );

    let c = snap
        .cfs(ino(&cpu))
        .expect("cfs counters of the test cgroup");
    let stat = read(&cpu, "cpu.stat");
    assert_eq!(c.periods, key(&stat, "nr_periods"), "{stat}");
    assert_eq!(c.throttled_periods, key(&stat, "nr_throttled"), "{stat}");
    assert_eq!(c.throttled_time, key(&stat, "throttled_time"), "{stat}");
    assert!(
        c.throttled_periods > 0,
        "the quota throttled the shell: {stat}"
    );

    let a = snap
        .cpuacct(ino(&acct))
        .expect("cpuacct counters of the test cgroup");
    let per_cpu: Vec<u64> = read(&acct, "cpuacct.usage_percpu")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(a.per_cpu, &per_cpu[..], "cpuacct.usage_percpu");
    assert!(per_cpu.iter().sum::<u64>() > 100_000_000, "{per_cpu:?}");
    let stat = read(&acct, "cpuacct.stat");
    // The file scales the tick-sampled times to the precise runtime, then prints USER_HZ ticks.
    let (user, system) = scaled_user_system(
        a.user_ns,
        a.system_ns,
        per_cpu.iter().sum(),
        &mut (a.prev_user_ns, a.prev_system_ns),
    );
    assert_eq!(user / 10_000_000, key(&stat, "user"), "{stat} {a:?}");
    assert_eq!(system / 10_000_000, key(&stat, "system"), "{stat} {a:?}");
}

/// The agent with the iterator on reports, for an idle test cgroup, what the files say.
#[test]
fn the_agent_reports_the_files_numbers_from_the_iterator() {
    let Some((host, _)) = v1_host() else {
        return;
    };
    let name = format!("/bpfadvisor-counters-agent-{}", std::process::id());
    let tree = busy_then_idle(&host, &name);
    let Some(agent) = agent::Agent::launch(&[
        "--allow_dynamic_housekeeping=false",
        "--housekeeping_interval=1s",
        "--docker_only=true",
        "--raw_cgroup_prefix_whitelist=/bpfadvisor-counters-",
        "--enable_metrics=cpu,memory,percpu",
    ]) else {
        return;
    };
    if !agent.log().contains("one BPF iterator run per pass") {
        return missing(
            Need::Ebpf,
            &format!("iterator not loaded:\n{}", agent.log()),
        );
    }
    let (_, validate) = agent.get("/validate/");
    assert!(
        validate.contains("Cgroup counters: BPF cgroup iterator (memory"),
        "{validate}"
    );
    agent.wait_listed(&name, Duration::from_secs(10));
    sleep(Duration::from_millis(2500));
    let v = agent
        .get_json(&format!("/api/v1.3/containers{name}"))
        .unwrap();
    let last = v["stats"].as_array().unwrap().last().unwrap().clone();
    let (mem, cpu, acct) = (
        tree.dir("memory", &name),
        tree.dir("cpu", &name),
        tree.dir("cpuacct", &name),
    );
    let m = &last["memory"];
    assert_eq!(m["usage"], num(&mem, "memory.usage_in_bytes"), "{m}");
    assert_eq!(
        m["max_usage"],
        num(&mem, "memory.max_usage_in_bytes"),
        "{m}"
    );
    assert_eq!(m["failcnt"], num(&mem, "memory.failcnt"), "{m}");
    assert_eq!(m["kernel"], num(&mem, "memory.kmem.usage_in_bytes"), "{m}");
    let c = &last["cpu"];
    let per_cpu: Vec<u64> = read(&acct, "cpuacct.usage_percpu")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(
        c["usage"]["per_cpu_usage"],
        serde_json::json!(per_cpu),
        "{c}"
    );
    assert_eq!(c["usage"]["total"], per_cpu.iter().sum::<u64>(), "{c}");
    let stat = read(&acct, "cpuacct.stat");
    assert_eq!(
        c["usage"]["user"],
        key(&stat, "user") * 10_000_000,
        "{c} {stat}"
    );
    assert_eq!(
        c["usage"]["system"],
        key(&stat, "system") * 10_000_000,
        "{c} {stat}"
    );
    let cfs = read(&cpu, "cpu.stat");
    assert_eq!(c["cfs"]["periods"], key(&cfs, "nr_periods"), "{c} {cfs}");
    assert_eq!(
        c["cfs"]["throttled_periods"],
        key(&cfs, "nr_throttled"),
        "{c} {cfs}"
    );
    assert_eq!(
        c["cfs"]["throttled_time"],
        key(&cfs, "throttled_time"),
        "{c} {cfs}"
    );
}
