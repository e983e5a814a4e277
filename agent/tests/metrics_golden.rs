//! Our exposition against cAdvisor's golden files for its fake machine and fake container
//! (`fixtures/cadvisor-golden/`), family by family and series by series: HELP, TYPE, label names
//! and order, label values, sample values and timestamps, as text. The only differences allowed
//! are listed below, each with its reason.

#[path = "support/cadvisor_fake.rs"]
mod cadvisor_fake;

use std::collections::BTreeMap;

use bpfadvisor::config::MetricKinds;
use bpfadvisor::metrics::{self, MetricsConfig};
use bpfadvisor::model::json::Timestamp;
use bpfadvisor::query::Snapshot;

const GOLDEN_MACHINE: &str = include_str!("fixtures/cadvisor-golden/prometheus_machine_metrics");
const GOLDEN_CONTAINERS: &str = include_str!("fixtures/cadvisor-golden/prometheus_metrics");
const GOLDEN_WHITELIST: &str =
    include_str!("fixtures/cadvisor-golden/prometheus_metrics_whitelist_filtered");
const GOLDEN_PERF: &str =
    include_str!("fixtures/cadvisor-golden/prometheus_metrics_perf_aggregated");

/// Families of cAdvisor's container golden files we do not export, and why. (None today: keep
/// the list, so that a knowing difference is written down here rather than hidden in the code.)
const NOT_EXPORTED: &[(&str, &str)] = &[];

/// Families we export for the fake container that cAdvisor's golden files lack, and why.
const NOT_IN_GOLDEN: &[(&str, &str)] = &[];

/// A label cAdvisor's tests add to every container series through the label function they pass to
/// its collector (`zone.name=hello` on top of the default labels). The production label function,
/// which ours follows, does not add it.
const TEST_ONLY_LABEL: &str = "zone_name";

/// A family whose value and timestamp are the scrape's clock (a fake clock in cAdvisor's tests, the
/// wall clock here): checked against the time of our render instead of the golden values.
const CLOCK_FAMILY: &str = "container_last_seen";

/// One sample: label pairs in written order, value and timestamp as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    labels: Vec<(String, String)>,
    value: String,
    timestamp: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Family {
    help: Option<String>,
    ty: Option<String>,
    /// Sorted (the order within a family is not part of the format's meaning).
    series: Vec<Series>,
}

/// Parses text format 0.0.4 into families by name. Panics on a line it cannot read: both inputs
/// are expected to be well formed, and a malformed line is a failure worth seeing.
fn parse(text: &str) -> BTreeMap<String, Family> {
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let f = fams.entry(name.to_string()).or_default();
            assert!(f.help.is_none(), "second HELP for {name}");
            f.help = Some(help.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap_or((rest, ""));
            let f = fams.entry(name.to_string()).or_default();
            assert!(f.ty.is_none(), "second TYPE for {name}");
            f.ty = Some(ty.to_string());
        } else if line.starts_with('#') {
            continue;
        } else {
            let (name, series) = parse_sample(line);
            fams.entry(name).or_default().series.push(series);
        }
    }
    for (name, f) in &mut fams {
        f.series.sort();
        let n = f.series.len();
        f.series.dedup_by(|a, b| a.labels == b.labels);
        assert_eq!(f.series.len(), n, "duplicate series in {name}");
    }
    fams
}

fn parse_sample(line: &str) -> (String, Series) {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next().unwrap_or_else(|| panic!("unclosed: {line}"));
            match c {
                '}' => {
                    rest = &body[i + 1..];
                    break;
                }
                ',' if key.is_empty() => {}
                '=' => {
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(e @ ('\\' | '"')) => value.push(e),
                                other => panic!("bad escape {other:?}: {line}"),
                            },
                            Some(c) => value.push(c),
                            None => panic!("unclosed value: {line}"),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                c => key.push(c),
            }
        }
    }
    let mut parts = rest.split_whitespace();
    let value = parts
        .next()
        .unwrap_or_else(|| panic!("no value: {line}"))
        .to_string();
    let timestamp = parts.next().map(str::to_string);
    assert!(parts.next().is_none(), "trailing text: {line}");
    (
        name,
        Series {
            labels,
            value,
            timestamp,
        },
    )
}

fn render(snap: &Snapshot, cfg: &MetricsConfig) -> String {
    let mut out = Vec::new();
    metrics::render(snap, cfg, &mut out);
    String::from_utf8(out).expect("utf8")
}

fn config(kinds: MetricKinds) -> MetricsConfig {
    MetricsConfig {
        kinds,
        telemetry: false,
        ..MetricsConfig::default()
    }
}

/// Asserts `ours` equals `golden` family by family, naming the first family that differs.
fn assert_families_equal(ours: &BTreeMap<String, Family>, golden: &BTreeMap<String, Family>) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        golden.keys().collect::<Vec<_>>(),
        "family names (ours, then golden)"
    );
    for (name, want) in golden {
        let got = &ours[name];
        assert_eq!(got.help, want.help, "HELP of {name}");
        assert_eq!(got.ty, want.ty, "TYPE of {name}");
        assert_eq!(got.series, want.series, "series of {name}");
    }
}

#[test]
fn machine_metrics_match_cadvisor_golden() {
    let snap = Snapshot {
        machine: std::sync::Arc::new(cadvisor_fake::machine()),
        ..Snapshot::default()
    };
    let cfg = config(MetricKinds::from_flags("cpu_topology", "").expect("valid"));
    let mut ours = parse(&render(&snap, &cfg));
    // Only the machine collector's families; the container collector's have their own files.
    ours.retain(|name, _| name.starts_with("machine_"));
    assert_families_equal(&ours, &parse(GOLDEN_MACHINE));
}

/// Renders cAdvisor's fake container with `cfg` and compares it with `golden`, allowing only the
/// differences listed at the top of this file.
fn assert_containers_match(cfg: &MetricsConfig, golden: &str) {
    let before = Timestamp::now().as_unix_nanos();
    let text = render(&cadvisor_fake::snapshot(), cfg);
    let after = Timestamp::now().as_unix_nanos();

    let mut ours = parse(&text);
    // The machine collector's families have their own golden file (above).
    ours.retain(|name, _| !name.starts_with("machine_"));
    let mut golden = parse(golden);
    for f in golden.values_mut() {
        for s in &mut f.series {
            s.labels.retain(|(k, _)| k != TEST_ONLY_LABEL);
        }
    }

    for (name, reason) in NOT_EXPORTED {
        assert!(
            !ours.contains_key(*name),
            "{name} is listed as not exported ({reason}) but we export it"
        );
        golden.remove(*name);
    }
    for (name, reason) in NOT_IN_GOLDEN {
        assert!(
            !golden.contains_key(*name),
            "{name} is listed as ours only ({reason}) but the golden file has it"
        );
        ours.remove(*name);
    }

    // The clock family: our value is the render's wall-clock second, our timestamp its
    // millisecond; the rest of the family (HELP, TYPE, labels) is compared like any other.
    let seen = ours
        .get_mut(CLOCK_FAMILY)
        .expect("ours has container_last_seen");
    for s in &mut seen.series {
        let ts: i64 = s
            .timestamp
            .take()
            .and_then(|t| t.parse().ok())
            .expect("timestamp");
        assert!(
            (before.div_euclid(1_000_000)..=after.div_euclid(1_000_000)).contains(&ts),
            "{CLOCK_FAMILY} timestamp {ts} outside the render"
        );
        let v: f64 = s.value.parse().expect("value");
        assert_eq!(v, ts.div_euclid(1000) as f64, "{CLOCK_FAMILY} value");
        s.value.clear();
    }
    let seen = golden
        .get_mut(CLOCK_FAMILY)
        .expect("golden has container_last_seen");
    for s in &mut seen.series {
        s.timestamp = None;
        s.value.clear();
    }

    assert_families_equal(&ours, &golden);
}

#[test]
fn container_metrics_match_cadvisor_golden() {
    // cAdvisor's golden test enables every metric kind.
    assert_containers_match(&config(MetricKinds::all()), GOLDEN_CONTAINERS);
}

#[test]
fn whitelisted_labels_match_cadvisor_golden() {
    // cAdvisor's test: every kind, container labels limited to a whitelist nothing matches (the
    // env label stays: the whitelist applies to container labels only).
    let cfg = MetricsConfig {
        store_container_labels: false,
        whitelisted_container_labels: vec!["no_one_match".into()],
        ..config(MetricKinds::all())
    };
    assert_containers_match(&cfg, GOLDEN_WHITELIST);
}

#[test]
fn aggregated_perf_events_match_cadvisor_golden() {
    // cAdvisor's test: only the perf kind, so per-CPU series are off and perf events are summed
    // (scaling ratios minimised) per event with an empty `cpu`.
    let cfg = config(MetricKinds::from_flags("perf_event", "").expect("valid"));
    assert_containers_match(&cfg, GOLDEN_PERF);
}

#[test]
fn parser_reads_escapes_and_timestamps() {
    let f = parse(
        "# HELP a_b Help text.\n# TYPE a_b gauge\na_b{x=\"q\\\"u,o=te\\\\\",y=\"\"} 1e-09 12\na_b 2\n",
    );
    let fam = &f["a_b"];
    assert_eq!(fam.help.as_deref(), Some("Help text."));
    assert_eq!(fam.ty.as_deref(), Some("gauge"));
    assert_eq!(
        fam.series,
        vec![
            Series {
                labels: vec![],
                value: "2".into(),
                timestamp: None,
            },
            Series {
                labels: vec![
                    ("x".into(), "q\"u,o=te\\".into()),
                    ("y".into(), String::new()),
                ],
                value: "1e-09".into(),
                timestamp: Some("12".into()),
            },
        ]
    );
}
