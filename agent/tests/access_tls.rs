//! TLS against the real agent: a self-signed certificate made by `openssl`, rotated on disk while the
//! agent runs; client certificates; bearer tokens; and a real Prometheus scraping `/metrics` over
//! TLS with a bearer token.

#[path = "support/secured.rs"]
mod secured;

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secured::{
    ROUTES, Served, assert_refused, assert_served, client_ca, free_port, have, replace,
    require_root, self_signed,
};

fn tools() -> bool {
    require_root() && have("openssl", "openssl") && have("curl", "curl")
}

#[test]
fn tls_with_a_self_signed_certificate_and_rotation_without_restart() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_crt, a_key) = self_signed(dir.path(), "a", "agent before rotation");
    let (b_crt, b_key) = self_signed(dir.path(), "b", "agent after rotation");
    let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    fs::copy(&a_crt, &crt).expect("copy");
    fs::copy(&a_key, &key).expect("copy");
    let token = dir.path().join("token");
    fs::write(&token, "# scraper\nt0ken-for-tests\n").expect("token");
    let agent = Served::start(
        &[
            format!("--tls_cert_file={}", crt.display()),
            format!("--tls_key_file={}", key.display()),
            format!("--http_bearer_token_file={}", token.display()),
        ],
        Some(&a_crt),
    );
    let challenge = "Bearer realm=\"localhost\"";
    for (route, want) in ROUTES {
        assert_refused(
            &agent.curl(route, &[]),
            &format!("{route}, no token"),
            challenge,
        );
        let wrong = agent.curl(route, &["-H", "Authorization: Bearer t0ken-for-test"]);
        assert_refused(&wrong, &format!("{route}, wrong token"), challenge);
        let right = agent.curl(route, &["--oauth2-bearer", "t0ken-for-tests"]);
        assert_served(&right, &format!("{route} over TLS with the token"), *want);
    }
    assert_eq!(agent.curl("/healthz", &[]).status, 200);
    let plain = agent.curl_url(&format!("http://127.0.0.1:{}/healthz", agent.port), &[]);
    assert_ne!(plain.status, 200, "no plain HTTP on the TLS port");

    // Rotation, key first: until the certificate follows, the pair does not match and the old
    // one keeps being served.
    replace(&b_key, &key);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        agent.curl("/healthz", &[]).status,
        200,
        "old pair still served"
    );
    replace(&b_crt, &crt);
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent
        .curl("/healthz", &["--cacert", &b_crt.display().to_string()])
        .status
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "rotated certificate not served:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        agent.curl("/healthz", &[]).status,
        0,
        "the old certificate is gone"
    );
    let after = agent.curl(
        "/api/v2.0/machine",
        &[
            "--cacert",
            &b_crt.display().to_string(),
            "--oauth2-bearer",
            "t0ken-for-tests",
        ],
    );
    assert_eq!(after.status, 200);

    // The token file is re-read too: a new token works, the removed one no longer does.
    fs::write(&token, "n3w-token\n").expect("token");
    let deadline = Instant::now() + Duration::from_secs(10);
    let with = |t: &str| {
        agent
            .curl(
                "/metrics",
                &[
                    "--cacert",
                    &b_crt.display().to_string(),
                    "--oauth2-bearer",
                    t,
                ],
            )
            .status
    };
    while with("n3w-token") != 200 {
        assert!(Instant::now() < deadline, "new token not accepted");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(with("t0ken-for-tests"), 401);
    let log = agent.log();
    assert!(log.contains("reloaded after its files changed"), "{log}");
    assert!(
        !log.contains("t0ken") && !log.contains("n3w-token"),
        "a token reached the log"
    );
}

#[test]
fn client_certificates_authenticate_and_healthz_needs_none() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (crt, key) = self_signed(dir.path(), "server", "agent");
    let (ca, client_crt, client_key) = client_ca(dir.path());
    let (stranger_crt, stranger_key) = self_signed(dir.path(), "stranger", "not from the CA");
    let token = dir.path().join("token");
    fs::write(&token, "tok\n").expect("token");
    let agent = Served::start(
        &[
            format!("--tls_cert_file={}", crt.display()),
            format!("--tls_key_file={}", key.display()),
            format!("--tls_client_ca_file={}", ca.display()),
            format!("--http_bearer_token_file={}", token.display()),
        ],
        Some(&crt),
    );
    let cert = [
        "--cert",
        &client_crt.display().to_string(),
        "--key",
        &client_key.display().to_string(),
    ]
    .map(str::to_owned);
    let cert: Vec<&str> = cert.iter().map(String::as_str).collect();
    for (route, want) in ROUTES {
        assert_served(
            &agent.curl(route, &cert),
            &format!("{route} with a client certificate"),
            *want,
        );
        assert_refused(
            &agent.curl(route, &[]),
            &format!("{route} without"),
            "Bearer",
        );
        assert_served(
            &agent.curl(route, &["--oauth2-bearer", "tok"]),
            &format!("{route} with the token instead"),
            *want,
        );
    }
    let stranger = agent.curl(
        "/healthz",
        &[
            "--cert",
            &stranger_crt.display().to_string(),
            "--key",
            &stranger_key.display().to_string(),
        ],
    );
    assert_eq!(
        stranger.status, 0,
        "a certificate from another CA fails the handshake"
    );
    assert_eq!(
        agent.curl("/healthz", &[]).status,
        200,
        "probes need no certificate"
    );
}

/// Kills and reaps Prometheus on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prometheus_scrapes_over_tls_with_a_bearer_token() {
    if !tools() || !have("prometheus", "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (crt, key) = self_signed(dir.path(), "server", "agent");
    let (token, wrong) = (dir.path().join("token"), dir.path().join("wrong"));
    fs::write(&token, "prometheus-scrape-token\n").expect("token");
    fs::write(&wrong, "not-the-token\n").expect("token");
    let agent = Served::start(
        &[
            format!("--tls_cert_file={}", crt.display()),
            format!("--tls_key_file={}", key.display()),
            format!("--http_bearer_token_file={}", token.display()),
        ],
        Some(&crt),
    );
    let web = format!("127.0.0.1:{}", free_port());
    let job = |name: &str, credentials: &std::path::Path| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n    \
             authorization:\n      type: Bearer\n      credentials_file: {}\n    \
             static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            crt.display(),
            credentials.display(),
            agent.port
        )
    };
    let cfg = dir.path().join("prometheus.yml");
    fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}",
            job("bpfadvisor", &token),
            job("wrong_token", &wrong)
        ),
    )
    .expect("config");
    let _prom = ChildGuard(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn prometheus"),
    );
    let api = |path: &str| -> Option<serde_json::Value> {
        let a = agent.curl_url(&format!("http://{web}{path}"), &[]);
        serde_json::from_str(&a.body).ok()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut up, mut refused) = (false, false);
    while !(up && refused) {
        assert!(
            Instant::now() < deadline,
            "targets never settled: {:?}",
            api("/api/v1/targets")
        );
        std::thread::sleep(Duration::from_millis(500));
        let Some(t) = api("/api/v1/targets") else {
            continue;
        };
        let Some(targets) = t["data"]["activeTargets"].as_array() else {
            continue;
        };
        for t in targets {
            match (t["labels"]["job"].as_str(), t["health"].as_str()) {
                (Some("bpfadvisor"), Some("up")) => up = true,
                (Some("wrong_token"), Some("down")) => {
                    let err = t["lastError"].as_str().unwrap_or("");
                    assert!(err.contains("401"), "wrong token: {err}");
                    refused = true;
                }
                _ => {}
            }
        }
    }
    // The scrape carried cAdvisor's families, not an error page.
    let q =
        "/api/v1/query?query=count(container_cpu_usage_seconds_total%7Bjob%3D%22bpfadvisor%22%7D)";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = api(q)
            .and_then(|r| {
                r["data"]["result"][0]["value"][1]
                    .as_str()
                    .map(str::to_owned)
            })
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if n > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no container_cpu_usage_seconds_total ingested"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
