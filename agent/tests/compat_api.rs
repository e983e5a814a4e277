//! Answers that a side-by-side run against cAdvisor v0.36 showed differing: subcontainer entries
//! and the v1 request-body error text.

#[path = "support/fake_query.rs"]
mod fake_query;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use bpfadvisor::api::{ApiContext, router};
use fake_query::{FakeQuery, container};
use tower::ServiceExt;

const ID: &str = "fe049db5d63bcaf6ecb9aaf46759d3cf881c7a7eb39213c3bb7635fa22f260cf";

fn app() -> axum::Router {
    let query = FakeQuery::builder()
        .containers(["/", "/docker"])
        .container(
            container(&format!("/docker/{ID}"))
                .id(ID)
                .aliases(&["cmp1", ID])
                .namespace("docker"),
        )
        .build();
    router(ApiContext {
        query,
        url_base_prefix: String::new(),
    })
}

async fn send(method: Method, uri: &str, body: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .expect("request");
    let res = app().oneshot(req).await.expect("infallible");
    let status = res.status();
    let b = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test]
async fn subcontainer_entries_carry_only_the_name() {
    // cAdvisor v0.36 `/api/v1.3/containers/docker`: "subcontainers":[{"name":"/docker/<id>"}].
    let (status, body) = send(Method::GET, "/api/v1.3/containers/docker", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v["subcontainers"],
        serde_json::json!([{ "name": format!("/docker/{ID}") }])
    );
}

#[tokio::test]
async fn bad_body_errors_read_like_go() {
    // cAdvisor v0.36 answer to POST /api/v1.3/containers/ with body `{bad}`.
    let (status, body) = send(Method::POST, "/api/v1.3/containers/", "{bad}").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body.trim_end(),
        "unable to decode the json value: invalid character 'b' looking for beginning of object key string"
    );
    let (_, body) = send(
        Method::POST,
        "/api/v1.3/containers/",
        r#"{"num_stats":"2"}"#,
    )
    .await;
    assert_eq!(
        body.trim_end(),
        "unable to decode the json value: json: cannot unmarshal string into Go struct field ContainerInfoRequest.num_stats of type int"
    );
}

#[tokio::test]
async fn validate_has_cadvisor_sections() {
    let (status, body) = send(Method::GET, "/validate/", "").await;
    assert_eq!(status, StatusCode::OK);
    // Headings of cAdvisor v0.36's /validate/, in its order.
    let mut at = 0;
    for h in [
        "Kernel version: ",
        "Cgroup setup: ",
        "Cgroup mount setup: ",
        "Docker version: [Unknown]\n",
        "Docker driver setup: ",
        "Block device setup: ",
        "Inotify watches: \n\t\n\n",
        "Managed containers: \n",
    ] {
        let i = body[at..]
            .find(h)
            .unwrap_or_else(|| panic!("{h:?} in {body}"));
        at += i + h.len();
    }
    assert!(body.ends_with("\n\n"), "{body:?}");
}
