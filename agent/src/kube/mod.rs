//! The Kubernetes node view: what kubelet serves from the cAdvisor it embeds, served by us.
//!
//! - [`pods`]: containers grouped into pods from the runtimes' labels and pod-level cgroups, with
//!   QoS class (pure, over a [`Snapshot`](crate::query::Snapshot)).
//! - [`summary`]: kubelet's Summary API (`/stats/summary`, `stats/v1alpha1` in [`types`]).
//! - [`resource`]: kubelet's resource metrics (`/metrics/resource`), encoded from that summary.
//! - `/metrics/cadvisor`: the `/metrics` exposition under the path Prometheus' Kubernetes scrape
//!   configurations use on kubelet.
//!
//! A consumer like `api` and `metrics`: it reads the snapshot through [`Query`] only.

pub mod node;
pub mod pods;
pub mod resource;
pub mod summary;
pub mod types;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query as QueryParams, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::host::HostPaths;
use crate::metrics::{self, MetricsConfig};
use crate::model::json::to_go_json;
use crate::query::Query;
use summary::Scope;

/// kubelet's paths.
pub const SUMMARY_PATH: &str = "/stats/summary";
pub const RESOURCE_METRICS_PATH: &str = "/metrics/resource";
pub const CADVISOR_METRICS_PATH: &str = "/metrics/cadvisor";

/// What the Kubernetes routes need from the rest of the agent.
#[derive(Clone)]
pub struct KubeContext {
    pub query: Arc<dyn Query>,
    /// Where the node's name, process limits and mount table are read.
    pub host: HostPaths,
}

/// `/stats/summary`, `/metrics/resource` and `/metrics/cadvisor` (the exposition `metrics`
/// configures). A path `--prometheus_endpoint` already takes is left to it.
pub fn router(ctx: KubeContext, metrics: &MetricsConfig) -> Router {
    let taken = normalise(&metrics.endpoint);
    let free = |p: &str| {
        let ok = p != taken;
        if !ok {
            tracing::warn!(
                path = p,
                "--prometheus_endpoint takes this path; the Kubernetes route is not served"
            );
        }
        ok
    };
    let mut r = Router::new();
    if free(SUMMARY_PATH) {
        r = r.route(SUMMARY_PATH, get(summary_handler));
    }
    if free(RESOURCE_METRICS_PATH) {
        r = r.route(RESOURCE_METRICS_PATH, get(resource_handler));
    }
    let r = r.with_state(ctx.clone());
    if taken == CADVISOR_METRICS_PATH {
        return r;
    }
    let alias = MetricsConfig {
        endpoint: CADVISOR_METRICS_PATH.to_string(),
        ..metrics.clone()
    };
    r.merge(metrics::router(ctx.query, alias))
}

/// `--prometheus_endpoint` as `metrics` routes it (a leading `/` added).
fn normalise(endpoint: &str) -> String {
    if endpoint.starts_with('/') {
        endpoint.to_string()
    } else {
        format!("/{endpoint}")
    }
}

/// kubelet's answer to a failed stats request.
fn internal_error(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Internal Error: {msg}"),
    )
        .into_response()
}

/// `?only_cpu_and_memory=true` (exactly one value, exactly `true`, as kubelet reads it).
fn scope_of(params: &[(String, String)]) -> Scope {
    let mut values = params
        .iter()
        .filter(|(k, _)| k == "only_cpu_and_memory")
        .map(|(_, v)| v.as_str());
    match (values.next(), values.next()) {
        (Some("true"), None) => Scope::CpuAndMemory,
        _ => Scope::Full,
    }
}

async fn summary_handler(
    State(ctx): State<KubeContext>,
    params: Result<QueryParams<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let scope = match params {
        Ok(QueryParams(p)) => scope_of(&p),
        Err(e) => return internal_error(format!("parse form failed: {}", e.body_text())),
    };
    let snap = ctx.query.snapshot();
    let host = ctx.host.clone();
    // The node facts are file reads (mount table, procfs): off the async workers.
    let built = tokio::task::spawn_blocking(move || {
        let facts = node::read(&host, scope == Scope::Full);
        summary::build(&snap, &facts, scope).map(|s| to_go_json(&s))
    })
    .await;
    match built {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Ok(Err(e)) => internal_error(e),
        Err(e) => internal_error(e),
    }
}

async fn resource_handler(State(ctx): State<KubeContext>) -> Response {
    let snap = ctx.query.snapshot();
    let rendered = tokio::task::spawn_blocking(move || {
        let built = summary::build(&snap, &node::NodeFacts::default(), Scope::CpuAndMemory);
        let mut out = Vec::with_capacity(16 * 1024);
        resource::render(built.as_ref(), &mut out);
        out
    })
    .await;
    match rendered {
        Ok(body) => ([(header::CONTENT_TYPE, resource::CONTENT_TYPE)], body).into_response(),
        Err(e) => internal_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_cpu_and_memory_is_read_as_kubelet_reads_it() {
        assert_eq!(scope_of(&p(&[])), Scope::Full);
        assert_eq!(
            scope_of(&p(&[("only_cpu_and_memory", "true")])),
            Scope::CpuAndMemory
        );
        assert_eq!(scope_of(&p(&[("only_cpu_and_memory", "1")])), Scope::Full);
        assert_eq!(
            scope_of(&p(&[
                ("only_cpu_and_memory", "true"),
                ("only_cpu_and_memory", "true")
            ])),
            Scope::Full
        );
        assert_eq!(normalise("metrics"), "/metrics");
    }
}
