//! `--http_auth_file` (every hash format Debian's `htpasswd` writes) and `--http_digest_file`
//! (`curl --digest`) against the real agent: right, wrong and missing credentials on every route
//! family; `/healthz` stays open; a changed file applies without a restart; credentials never
//! reach the log.

#[path = "support/secured.rs"]
mod secured;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secured::{ROUTES, Served, assert_refused, assert_served, have, require_root, run};

/// Password with a colon, a space and a non-ASCII letter: the Basic split and the UTF-8 bytes both
/// matter.
const PASSWORD: &str = "pa:ss wörd";

/// `htpasswd -nb<flag> user PASSWORD`: the line Debian's apache2-utils writes.
fn htpasswd_line(flag: &str, user: &str) -> String {
    run(Command::new("htpasswd")
        .arg(format!("-nb{flag}"))
        .args([user, PASSWORD]))
    .trim()
    .to_string()
}

#[test]
fn basic_auth_with_every_debian_htpasswd_format_on_every_route_family() {
    if !require_root() || !have("htpasswd", "apache2-utils") || !have("curl", "curl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // The formats cAdvisor accepts (-B bcrypt, -m apr1, -s SHA-1), SHA-256/512-crypt (-2, -5), and
    // the two refused ones (-d DES crypt, -p plain text).
    let accepted = ["B", "m", "s", "2", "5"];
    let refused = ["d", "p"];
    let lines: Vec<String> = accepted
        .iter()
        .chain(&refused)
        .map(|f| htpasswd_line(f, &format!("user_{f}")))
        .collect();
    let file = dir.path().join("htpasswd");
    fs::write(&file, lines.join("\n") + "\n").expect("write htpasswd");
    let agent = Served::start(
        &[
            format!("--http_auth_file={}", file.display()),
            "--http_auth_realm=bpfadvisor test".into(),
        ],
        None,
    );
    let challenge = "Basic realm=\"bpfadvisor test\"";

    for (route, want) in ROUTES {
        assert_refused(
            &agent.curl(route, &[]),
            &format!("{route} without credentials"),
            challenge,
        );
        assert_refused(
            &agent.curl(route, &["-H", "Authorization: Bearer x"]),
            &format!("{route} with another scheme"),
            challenge,
        );
        for f in accepted {
            let user = format!("user_{f}");
            let right = format!("{user}:{PASSWORD}");
            let wrong = format!("{user}:{PASSWORD}!");
            let what = format!("{route} as {user} (htpasswd -{f})");
            assert_served(&agent.curl(route, &["-u", &right]), &what, *want);
            assert_refused(
                &agent.curl(route, &["-u", &wrong]),
                &format!("{what}, wrong password"),
                challenge,
            );
        }
        assert_refused(
            &agent.curl(route, &["-u", &format!("nobody:{PASSWORD}")]),
            &format!("{route} as an unknown user"),
            challenge,
        );
    }
    for f in refused {
        let a = agent.curl("/metrics", &["-u", &format!("user_{f}:{PASSWORD}")]);
        assert_refused(&a, &format!("htpasswd -{f} entries are refused"), challenge);
    }
    for auth in [&[][..], &["-u", "nobody:x"][..]] {
        let a = agent.curl("/healthz", auth);
        assert_eq!(
            (a.status, a.body.as_str()),
            (200, "ok"),
            "/healthz stays open"
        );
    }
    let right = format!("user_B:{PASSWORD}");
    let failures = |reason: &str| {
        agent
            .metric(
                &["-u", &right],
                &format!("bpfadvisor_http_auth_failures_total{{reason=\"{reason}\"}}"),
            )
            .unwrap_or(0.0)
    };
    assert!(
        failures("missing") >= ROUTES.len() as f64 * 2.0,
        "missing counted"
    );
    assert!(
        failures("invalid") >= (ROUTES.len() * (accepted.len() + 1)) as f64,
        "invalid counted"
    );

    // A user added to the file is let in without a restart; a removed one is shut out.
    run(Command::new("htpasswd")
        .args(["-bB"])
        .arg(&file)
        .args(["late", "late-pw"])
        .stderr(Stdio::null()));
    run(Command::new("htpasswd")
        .arg("-D")
        .arg(&file)
        .arg("user_m")
        .stderr(Stdio::null()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.curl("/metrics", &["-u", "late:late-pw"]).status != 200 {
        assert!(
            Instant::now() < deadline,
            "edited htpasswd file not picked up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        agent
            .curl("/metrics", &["-u", &format!("user_m:{PASSWORD}")])
            .status,
        401
    );

    let log = agent.log();
    assert!(
        log.contains("unsupported password hash"),
        "refused lines are named:\n{log}"
    );
    for secret in lines
        .iter()
        .filter_map(|l| l.split_once(':').map(|(_, h)| h))
    {
        assert!(!log.contains(secret), "a hash reached the log:\n{log}");
    }
    assert!(
        !log.contains("pa:ss") && !log.contains("late-pw"),
        "a password reached the log"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn digest_auth_with_curl_on_every_route_family() {
    if !require_root()
        || !have("htdigest", "apache2-utils")
        || !have("htpasswd", "apache2-utils")
        || !have("curl", "curl")
    {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("htdigest");
    for (i, (realm, user)) in [("cadvisor", "carol"), ("elsewhere", "dave")]
        .iter()
        .enumerate()
    {
        let mut cmd = Command::new("htdigest");
        if i == 0 {
            cmd.arg("-c");
        }
        let mut child = cmd
            .arg(&file)
            .args([realm, user])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("htdigest");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"s3cret\ns3cret\n")
            .expect("password");
        assert!(child.wait().expect("htdigest").success());
    }
    let agent = Served::start(
        &[
            format!("--http_digest_file={}", file.display()),
            "--http_digest_realm=cadvisor".into(),
        ],
        None,
    );
    let challenge = "Digest realm=\"cadvisor\", nonce=\"";
    for (route, want) in ROUTES {
        let a = agent.curl(route, &[]);
        assert_refused(&a, &format!("{route} without credentials"), challenge);
        let c = a.header("www-authenticate").join(" ");
        assert!(
            c.contains("qop=\"auth\"") && c.contains("algorithm=MD5"),
            "{c}"
        );
        let right = agent.curl(route, &["--digest", "-u", "carol:s3cret"]);
        assert_served(&right, &format!("{route} as carol"), *want);
        if right.status == 200 && !route.contains("stream") {
            let info = right.header("authentication-info").join("");
            assert!(
                info.contains("rspauth=\""),
                "{route}: Authentication-Info {info:?}"
            );
        }
        for (creds, what) in [
            ("carol:S3cret", "wrong password"),
            ("nobody:s3cret", "unknown user"),
            ("dave:s3cret", "user of another realm"),
        ] {
            assert_refused(
                &agent.curl(route, &["--digest", "-u", creds]),
                &format!("{route}, {what}"),
                challenge,
            );
        }
        // Basic credentials are no use against a digest file.
        assert_refused(
            &agent.curl(route, &["-u", "carol:s3cret"]),
            route,
            challenge,
        );
    }
    assert_eq!(agent.curl("/healthz", &[]).status, 200);
    // --http_auth_file wins over --http_digest_file, as in cAdvisor.
    let basic = dir.path().join("htpasswd");
    fs::write(&basic, htpasswd_line("B", "erin") + "\n").expect("htpasswd");
    let both = Served::start(
        &[
            format!("--http_digest_file={}", file.display()),
            "--http_digest_realm=cadvisor".into(),
            format!("--http_auth_file={}", basic.display()),
        ],
        None,
    );
    assert_refused(
        &both.curl("/metrics", &[]),
        "both files",
        "Basic realm=\"localhost\"",
    );
    assert_eq!(
        both.curl("/metrics", &["-u", &format!("erin:{PASSWORD}")])
            .status,
        200
    );
    assert!(!agent.log().contains("s3cret"));
}

#[test]
fn unusable_files_refuse_to_start() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let only_plain = dir.path().join("plain");
    fs::write(&only_plain, "user:plaintext\n").expect("write");
    let log = Served::refuses(&[format!("--http_auth_file={}", only_plain.display())]);
    assert!(log.contains("no usable user:hash line"), "{log}");
    assert!(
        !log.contains("plaintext"),
        "the file's content is not logged: {log}"
    );
    let missing = dir.path().join("missing");
    let log = Served::refuses(&[format!("--http_digest_file={}", missing.display())]);
    assert!(
        log.contains("loading the HTTP authentication files"),
        "{log}"
    );
    let log = Served::refuses(&["--tls_cert_file=/nonexistent.crt".into()]);
    assert!(log.contains("tls_key_file"), "{log}");
}
