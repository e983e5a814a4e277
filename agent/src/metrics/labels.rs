//! Base labels of container series and their merge with per-family labels.

use std::collections::BTreeMap;

use super::MetricsConfig;
use super::text::{sanitize_label_name, write_label_value};
use crate::query::ContainerEntry;

/// Kubernetes container labels exported as kubelet's embedded cAdvisor names them (`container`,
/// `pod`, `namespace`). Standalone cAdvisor does not add these; we do so that dashboards written
/// against kubelet's `/metrics/cadvisor` work unchanged against us.
const KUBERNETES_LABELS: [(&str, &str); 3] = [
    ("io.kubernetes.container.name", "container"),
    ("io.kubernetes.pod.name", "pod"),
    ("io.kubernetes.pod.namespace", "namespace"),
];

/// cAdvisor's `DefaultContainerLabels` / `BaseContainerLabels(whitelist)`: sanitised name → value.
/// When two raw names sanitise to the same label the first wins (cAdvisor: whichever its map
/// iteration meets first; here: id, name, image, labels, envs in key order).
pub fn container_labels(e: &ContainerEntry, cfg: &MetricsConfig) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut add = |k: String, v: &str| {
        m.entry(k).or_insert_with(|| v.to_string());
    };
    add("id".into(), e.name());
    if let Some(alias) = e.reference.aliases.first() {
        add("name".into(), alias);
    }
    let spec = &e.spec;
    if !spec.image.is_empty() {
        add("image".into(), &spec.image);
    }
    for (k, v) in &spec.labels {
        if cfg.store_container_labels || cfg.whitelisted_container_labels.iter().any(|w| w == k) {
            add(sanitize_label_name(&format!("container_label_{k}")), v);
        }
    }
    // The runtime already applied `--env_metadata_whitelist` (prefix match) to `spec.envs`.
    for (k, v) in &spec.envs {
        add(sanitize_label_name(&format!("container_env_{k}")), v);
    }
    for (k8s, name) in KUBERNETES_LABELS {
        if let Some(v) = spec.labels.get(k8s) {
            add(name.into(), v);
        }
    }
    m
}

/// One container's base label pairs over the union of names, pre-rendered as `a="x",b="y",`.
#[derive(Debug)]
pub struct Base {
    text: Vec<u8>,
    /// Byte offset just after each pair.
    ends: Vec<usize>,
}

/// Where a family's extra label goes: its index in the family's declared labels, its name, and how
/// many base pairs precede it.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub index: usize,
    pub name: &'static str,
    pub after: usize,
}

/// Orders a family's extra labels among the (sorted) base label names.
pub fn plan(base_names: &[String], extra: &'static [&'static str]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = extra
        .iter()
        .enumerate()
        .map(|(index, &name)| Slot {
            index,
            name,
            after: base_names.partition_point(|b| b.as_str() < name),
        })
        .collect();
    slots.sort_by_key(|s| s.name);
    slots
}

impl Base {
    pub fn new(names: &[String], values: &BTreeMap<String, String>) -> Self {
        let mut text = Vec::with_capacity(names.len() * 24);
        let mut ends = Vec::with_capacity(names.len());
        for n in names {
            text.extend_from_slice(n.as_bytes());
            text.extend_from_slice(b"=\"");
            write_label_value(&mut text, values.get(n).map_or("", String::as_str));
            text.extend_from_slice(b"\",");
            ends.push(text.len());
        }
        Base { text, ends }
    }

    fn end_of(&self, pairs: usize) -> usize {
        if pairs == 0 { 0 } else { self.ends[pairs - 1] }
    }

    /// Writes `{...}` with the base pairs and `values` (in declared order) merged by name; nothing
    /// when there are no labels at all.
    pub fn write_merged(&self, out: &mut Vec<u8>, plan: &[Slot], values: &[&str]) {
        if self.ends.is_empty() && plan.is_empty() {
            return;
        }
        out.push(b'{');
        let mut at = 0;
        for s in plan {
            let end = self.end_of(s.after);
            out.extend_from_slice(&self.text[at..end]);
            at = end;
            out.extend_from_slice(s.name.as_bytes());
            out.extend_from_slice(b"=\"");
            write_label_value(out, values.get(s.index).copied().unwrap_or(""));
            out.extend_from_slice(b"\",");
        }
        out.extend_from_slice(&self.text[at..]);
        // Replace the trailing comma.
        if let Some(last) = out.last_mut() {
            *last = b'}';
        }
    }
}
