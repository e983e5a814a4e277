//! v1.0–v1.3: `containers`, `subcontainers`, `docker`, `machine` (and `events` in v1.3).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::Response;

use super::request::{
    ApiError, container_name, go_quote, go_string_slice, parse_info_request, sample_limit,
};
use super::stream::{Shape, json_stream, put_value};
use super::{ApiContext, json};
use crate::model::machine::MachineInfo;
use crate::model::v1::{ContainerInfo, ContainerInfoRequest, ContainerReference, ContainerSpec};
use crate::query::{AliasLookup, ContainerEntry, Snapshot};

pub(super) fn handle(
    ctx: &ApiContext,
    types: &[&str],
    rtype: &str,
    args: &[&str],
    body: &[u8],
    query: &str,
) -> Result<Response, ApiError> {
    if !types.contains(&rtype) {
        return Err(unknown_type(rtype));
    }
    let snap = ctx.query.snapshot();
    match rtype {
        "containers" => {
            let req = parse_info_request(body)?;
            let name = container_name(args);
            let entry = snap.get(&name).ok_or_else(|| {
                ApiError(format!(
                    "failed to get container {} with error: unknown container {}",
                    go_quote(&name),
                    go_quote(&name)
                ))
            })?;
            Ok(json(&container_info(&snap, entry, &req)))
        }
        "subcontainers" => {
            let req = parse_info_request(body)?;
            let name = container_name(args);
            let conts: Vec<Arc<ContainerEntry>> = subcontainers(&snap, &name).cloned().collect();
            if conts.is_empty() {
                return Err(ApiError(format!(
                    "failed to get subcontainers for container {} with error: no containers found",
                    go_quote(&name)
                )));
            }
            // Every container's samples: streamed (see `stream`).
            Ok(json_stream(conts, Shape::Array, move |c, buf| {
                put_value(buf, &container_info(&snap, c, &req));
            }))
        }
        "docker" => {
            let req = parse_info_request(body)?;
            // "docker/" means all, like "docker".
            let args = if args == [""] { &[][..] } else { args };
            let out: BTreeMap<&str, ContainerInfo> = match args {
                [] => snap
                    .in_namespace("docker")
                    .map(|c| (c.name(), container_info(&snap, c, &req)))
                    .collect(),
                [key] => {
                    let c = snap.find_by_alias("docker", key).map_err(|e| {
                        let why = match e {
                            AliasLookup::NotFound => format!(
                                "unable to find container {} in \"docker\" namespace",
                                go_quote(key)
                            ),
                            AliasLookup::NotUnique => format!(
                                "unable to find container in \"docker\" namespace. Container {} is not unique",
                                go_quote(key)
                            ),
                        };
                        ApiError(format!(
                            "failed to get Docker container {} with error: {why}",
                            go_quote(key)
                        ))
                    })?;
                    BTreeMap::from([(c.name(), container_info(&snap, c, &req))])
                }
                _ => {
                    return Err(ApiError(format!(
                        "unknown request for Docker container {}",
                        go_string_slice(args)
                    )));
                }
            };
            Ok(json(&out))
        }
        "machine" => Ok(json(&*snap.machine)),
        "events" => Ok(super::events(ctx, args, query)),
        _ => Err(unknown_type(rtype)),
    }
}

pub(super) fn unknown_type(rtype: &str) -> ApiError {
    ApiError(format!("unknown request type {}", go_quote(rtype)))
}

/// cAdvisor's `getSubcontainers`: the container and every name that starts with it (a plain string
/// prefix, so `/docker` also matches `/docker-foo`, as cAdvisor does).
pub(super) fn subcontainers<'a>(
    snap: &'a Snapshot,
    name: &'a str,
) -> impl Iterator<Item = &'a std::sync::Arc<ContainerEntry>> {
    snap.containers
        .values()
        .filter(move |c| c.name() == name || c.name().starts_with(name))
}

/// The spec as every API answer shows it: no memory limit reads as the machine's memory.
pub(super) fn adjusted_spec(spec: &ContainerSpec, machine: &MachineInfo) -> ContainerSpec {
    let mut spec = spec.clone();
    if spec.has_memory && spec.memory.limit == 0 {
        spec.memory.limit = machine.memory_capacity;
    }
    spec
}

/// `v1.ContainerInfo` of one container with the samples `req` selects.
pub(super) fn container_info(
    snap: &Snapshot,
    c: &ContainerEntry,
    req: &ContainerInfoRequest,
) -> ContainerInfo {
    let start = (!req.start.is_zero()).then_some(req.start);
    let end = (!req.end.is_zero()).then_some(req.end);
    ContainerInfo {
        reference: c.reference.clone(),
        // cAdvisor lists children from the raw cgroup tree: name only, no id/aliases/namespace.
        subcontainers: snap
            .children(c.name())
            .map(|s| ContainerReference {
                name: s.name().to_owned(),
                ..Default::default()
            })
            .collect(),
        spec: adjusted_spec(&c.spec, &snap.machine),
        stats: c.samples.range(start, end, sample_limit(req.num_stats)),
    }
}
