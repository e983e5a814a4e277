//! v2.0 and v2.1: `version`, `attributes`, `machine`, `summary`, `stats`, `spec`, `storage`,
//! `events`, `ps`, `appmetrics`, and v2.1's `machinestats` and `stats` override.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::Response;

use super::request::{ApiError, IdType, RequestOptions, container_name, go_quote, query_get};
use super::stream::{Shape, json_stream, put_key, put_value};
use super::v1::{adjusted_spec, subcontainers, unknown_type};
use super::{ApiContext, json};
use crate::fs::FsUsage;
use crate::fs::storage::Storage;
use crate::model::machine::Attributes;
use crate::model::v1::{self, MetricValBasic};
use crate::model::v2;
use crate::query::{AliasLookup, ContainerEntry, Snapshot};

type Entries = Vec<Arc<ContainerEntry>>;

pub(super) async fn handle(
    ctx: &ApiContext,
    version: &str,
    rtype: &str,
    args: &[&str],
    query: &str,
) -> Result<Response, ApiError> {
    // cAdvisor parses the options before looking at the request type.
    let opt = RequestOptions::parse(query)?;
    let snap = ctx.query.snapshot();
    let name = container_name(args);
    match rtype {
        "version" => Ok(json(&snap.version.cadvisor_version)),
        "attributes" => Ok(json(&Attributes::new(&snap.machine, &snap.version))),
        "machine" => Ok(json(&*snap.machine)),
        "summary" => {
            let conts = requested(ctx, &snap, &name, &opt).await?;
            let mut out = BTreeMap::new();
            let mut failures = Vec::new();
            for c in &conts {
                match derived_stats(c) {
                    Ok(d) => {
                        out.insert(c.name(), d);
                    }
                    Err(e) => {
                        failures.push(failure(c.name(), "DerivedStats", &e));
                        out.insert(c.name(), v2::DerivedStats::default());
                    }
                }
            }
            partial(failures)?;
            Ok(json(&out))
        }
        "stats" => {
            // Entries come sorted by name, as the map cAdvisor encodes; streamed (see `stream`).
            let conts = requested(ctx, &snap, &name, &opt).await?;
            if version == "v2.0" {
                Ok(json_stream(conts, Shape::Object, move |c, buf| {
                    let spec = adjusted_spec(&c.spec, &snap.machine);
                    let stats =
                        v2::DeprecatedContainerStats::from_v1_series(&spec, &samples(c, &opt));
                    put_key(buf, c.name());
                    put_value(buf, &stats);
                }))
            } else {
                // Root cgroup stats are exposed as machine stats in v2.1.
                let conts: Entries = conts.into_iter().filter(|c| c.name() != "/").collect();
                Ok(json_stream(conts, Shape::Object, move |c, buf| {
                    put_key(buf, c.name());
                    put_value(buf, &v2_info(&snap, c, &opt));
                }))
            }
        }
        "spec" => {
            let conts = requested(ctx, &snap, &name, &opt).await?;
            let out: BTreeMap<&str, v2::ContainerSpec> = conts
                .iter()
                .map(|c| (c.name(), v2_spec(&snap, c)))
                .collect();
            Ok(json(&out))
        }
        "storage" => {
            let facts = ctx
                .query
                .host()
                .storage()
                .await
                .map_err(|e| ApiError(e.to_string()))?;
            storage(&facts, &snap, query)
        }
        "events" => Ok(super::events(ctx, args, query)),
        "ps" => {
            // Single container, no recursion, no refresh: as cAdvisor's GetProcessList.
            let opt = RequestOptions {
                recursive: false,
                max_age: None,
                ..opt
            };
            let ps_err = |e: String| ApiError(format!("process listing failed: {e}"));
            let conts = resolve(&snap, &name, &opt).map_err(|e| ps_err(e.0))?;
            let [c] = conts.as_slice() else {
                return Err(ps_err(
                    "Expected the request to match only one container".into(),
                ));
            };
            let list = ctx
                .query
                .host()
                .processes(c.name(), snap.machine.memory_capacity)
                .await
                .map_err(|e| ps_err(e.to_string()))?;
            Ok(json(&list))
        }
        "appmetrics" => {
            let conts = requested(ctx, &snap, &name, &opt).await?;
            let mut out = BTreeMap::new();
            for c in &conts {
                // Keyed by the requested name: later containers overwrite earlier ones (cAdvisor).
                out.insert(name.as_str(), app_metrics(c, &opt));
            }
            Ok(json(&out))
        }
        "machinestats" if version == "v2.1" => {
            let root_opt = RequestOptions {
                id_type: IdType::Name,
                recursive: false,
                ..opt
            };
            let conts = requested(ctx, &snap, "/", &root_opt).await?;
            let Some(root) = conts.first() else {
                return Ok(json(&Vec::<v2::MachineStats>::new()));
            };
            let spec = adjusted_spec(&root.spec, &snap.machine);
            Ok(json(&v2::MachineStats::from_v1_series(
                &spec,
                &samples(root, &root_opt),
            )))
        }
        _ => Err(unknown_type(rtype)),
    }
}

/// cAdvisor's `getRequestedContainers` plus the `max_age` on-demand refresh.
async fn requested(
    ctx: &ApiContext,
    snap: &Snapshot,
    name: &str,
    opt: &RequestOptions,
) -> Result<Entries, ApiError> {
    let conts = resolve(snap, name, opt)?;
    if let Some(age) = opt.max_age {
        let names = conts.iter().map(|c| c.name().to_owned()).collect();
        // Samples are shared between snapshots, so the fresher ones show up in `conts`.
        ctx.query.fresh_snapshot(names, age).await;
    }
    Ok(conts)
}

/// The containers a v2 request names, sorted by name.
fn resolve(snap: &Snapshot, name: &str, opt: &RequestOptions) -> Result<Entries, ApiError> {
    match (opt.id_type, opt.recursive) {
        (IdType::Name, false) => snap
            .get(name)
            .map(|c| vec![c.clone()])
            .ok_or_else(|| ApiError(format!("unknown container {}", go_quote(name)))),
        (IdType::Name, true) => {
            let v: Entries = subcontainers(snap, name).cloned().collect();
            if v.is_empty() {
                return Err(ApiError(format!("unknown container: {}", go_quote(name))));
            }
            Ok(v)
        }
        (t, false) => {
            let ns = t.as_str();
            let key = name.strip_prefix('/').unwrap_or(name);
            snap.find_by_alias(ns, key)
                .map(|c| vec![c.clone()])
                .map_err(|e| {
                    ApiError(match e {
                        AliasLookup::NotFound => format!(
                            "unable to find container {} in {} namespace",
                            go_quote(key),
                            go_quote(ns)
                        ),
                        AliasLookup::NotUnique => format!(
                            "unable to find container in {} namespace. Container {} is not unique",
                            go_quote(ns),
                            go_quote(key)
                        ),
                    })
                })
        }
        (t, true) => {
            if name != "/" {
                return Err(ApiError(format!(
                    "invalid request for {} container {} with subcontainers",
                    t.as_str(),
                    go_quote(name)
                )));
            }
            Ok(snap.in_namespace(t.as_str()).cloned().collect())
        }
    }
}

/// The newest `count` samples, oldest first.
fn samples(c: &ContainerEntry, opt: &RequestOptions) -> Vec<Arc<v1::ContainerStats>> {
    c.samples.range(None, None, opt.limit())
}

fn v2_spec(snap: &Snapshot, c: &ContainerEntry) -> v2::ContainerSpec {
    let spec = adjusted_spec(&c.spec, &snap.machine);
    v2::ContainerSpec::from_v1(&spec, &c.reference.aliases, &c.reference.namespace)
}

fn v2_info(snap: &Snapshot, c: &ContainerEntry, opt: &RequestOptions) -> v2::ContainerInfo {
    let spec = adjusted_spec(&c.spec, &snap.machine);
    v2::ContainerInfo {
        spec: v2::ContainerSpec::from_v1(&spec, &c.reference.aliases, &c.reference.namespace),
        stats: v2::ContainerStats::from_v1_series(&spec, &samples(c, opt)),
    }
}

/// The running summary the registry keeps for `c`.
fn derived_stats(c: &ContainerEntry) -> Result<v2::DerivedStats, String> {
    c.samples.summary().ok_or_else(|| {
        format!(
            "derived stats not enabled for container {}",
            go_quote(c.name())
        )
    })
}

/// `["<name>": <Operation>: <err>]`, one entry of cAdvisor's `partialFailure`.
fn failure(name: &str, op: &str, err: &str) -> String {
    format!("[{}: {op}: {err}]", go_quote(name))
}

fn partial(failures: Vec<String>) -> Result<(), ApiError> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ApiError(format!(
            "partial failures: {}",
            failures.join(", ")
        )))
    }
}

type AppMetrics = BTreeMap<String, BTreeMap<String, Vec<MetricValBasic>>>;

/// Custom metrics of `c` grouped by metric and label; zero timestamps dropped (cAdvisor).
fn app_metrics(c: &ContainerEntry, opt: &RequestOptions) -> AppMetrics {
    let mut out = AppMetrics::new();
    if !c.spec.has_custom_metrics {
        return out;
    }
    for s in c.samples.range(None, None, opt.limit()) {
        for (metric, vals) in s.custom_metrics.iter() {
            for v in vals.iter().filter(|v| !v.timestamp.is_zero()) {
                out.entry(metric.clone())
                    .or_default()
                    .entry(v.label.clone())
                    .or_default()
                    .push(MetricValBasic {
                        timestamp: v.timestamp,
                        int_value: v.int_value,
                        float_value: v.float_value,
                    });
            }
        }
    }
    out
}

/// `storage`: filesystems of the newest root-container sample, by `uuid`, `label` or all.
fn storage(storage: &Storage, snap: &Snapshot, query: &str) -> Result<Response, ApiError> {
    let label = query_get(query, "label").unwrap_or_default();
    let uuid = query_get(query, "uuid").unwrap_or_default();
    let Storage {
        mounts,
        labels,
        uuids,
    } = storage;
    let all = fs_infos(snap, mounts, labels)?;
    if !uuid.is_empty() {
        let dev = uuids
            .get(&uuid)
            .cloned()
            .ok_or_else(|| ApiError::new("cadvisor: no such device"))?;
        let mp = mounts
            .iter()
            .find(|m| m.device == dev)
            .map(|m| m.mountpoint.display().to_string())
            .ok_or_else(|| {
                ApiError(format!(
                    "failed to get mount point for device {}: no partition info for device {}",
                    go_quote(&dev),
                    go_quote(&dev)
                ))
            })?;
        let fi = all
            .into_iter()
            .find(|f| f.mountpoint == mp)
            .ok_or_else(|| {
                ApiError(format!(
                    "cannot find filesystem info for device {}",
                    go_quote(&dev)
                ))
            })?;
        return Ok(json(&fi));
    }
    if !label.is_empty() {
        let dev = labels
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, d)| d.clone())
            .ok_or_else(|| ApiError(format!("non-existent label {}", go_quote(&label))))?;
        let out: Vec<_> = all.into_iter().filter(|f| f.device == dev).collect();
        return Ok(json(&out));
    }
    Ok(json(&all))
}

/// `v2.FsInfo` for every filesystem of the newest root sample.
fn fs_infos(
    snap: &Snapshot,
    mounts: &[FsUsage],
    labels: &[(&'static str, String)],
) -> Result<Vec<v2::FsInfo>, ApiError> {
    let Some(latest) = snap.get("/").and_then(|r| r.samples.latest()) else {
        return Ok(Vec::new());
    };
    latest
        .filesystem
        .iter()
        .map(|fs| {
            let mountpoint = mounts
                .iter()
                .find(|m| m.device == fs.device)
                .map(|m| m.mountpoint.display().to_string())
                .ok_or_else(|| {
                    ApiError(format!(
                        "no partition info for device {}",
                        go_quote(&fs.device)
                    ))
                })?;
            Ok(v2::FsInfo {
                timestamp: latest.timestamp,
                device: fs.device.clone(),
                mountpoint,
                capacity: fs.capacity,
                available: fs.available,
                usage: fs.usage,
                labels: labels
                    .iter()
                    .filter(|(_, d)| *d == fs.device)
                    .map(|(l, _)| (*l).to_owned())
                    .collect(),
                inodes: fs.has_inodes.then_some(fs.inodes),
                inodes_free: fs.has_inodes.then_some(fs.inodes_free),
            })
        })
        .collect()
}
