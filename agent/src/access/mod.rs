//! Access control for every HTTP route but `/healthz`: who may ask (HTTP Basic against an htpasswd
//! file, Digest against an htdigest file, bearer tokens, TLS client certificates), over what (TLS
//! with certificates reloaded on change) and how much (request limits).
//!
//! cAdvisor's `--http_auth_file` / `--http_digest_file` guard only its web UI; here they guard the
//! REST API, event streams, `/metrics`, `/validate/` and the UI too, because those expose every
//! process's command line and every container's labels. When several methods are configured, any
//! one of them authenticates a request (as the Kubernetes API server does): a verified client
//! certificate, a bearer token, or the password scheme (Basic when `--http_auth_file` is set, else
//! Digest when `--http_digest_file` is, as cAdvisor chooses). With none configured everything stays
//! open, as in cAdvisor.
//!
//! A failure is always `401` with a `WWW-Authenticate` challenge per configured HTTP scheme and the
//! same body, whatever was wrong (user, password, token, nonce), and is counted in
//! `bpfadvisor_http_auth_failures_total{reason="missing"|"invalid"}`. Credentials are never logged.
//! Password checks (bcrypt, SHA-crypt) run on a blocking thread, one at a time, with a bounded
//! queue and a CPU budget (503 past either); a password that verified is remembered (as a keyed hash, until the file changes or ten
//! minutes pass) so a scraper's every request does not pay for bcrypt again.

pub mod bearer;
pub mod digest;
pub mod htpasswd;
pub mod limits;
pub mod server;
pub mod tls;
pub mod watched;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::sync::Semaphore;
use tracing::warn;

use crate::telemetry::events::AuthFailed;
use crate::telemetry::{AuthFailure, Refusal};
use bearer::Tokens;
use digest::{Checked, DigestAuth, Htdigest};
use htpasswd::Htpasswd;
pub use limits::Limits;
pub use server::{Connection, ServeOptions, serve};
pub use tls::TlsFiles;
use watched::Watched;

/// The access-control flags, validated by `config.rs`. Paths are the agent's own files (secrets
/// mounted into its container), not host paths below `--rootfs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessConfig {
    /// `--http_auth_file`.
    pub htpasswd: Option<PathBuf>,
    /// `--http_auth_realm`.
    pub basic_realm: String,
    /// `--http_digest_file` (used only without `--http_auth_file`, as cAdvisor).
    pub htdigest: Option<PathBuf>,
    /// `--http_digest_realm`.
    pub digest_realm: String,
    /// `--http_bearer_token_file`.
    pub bearer_tokens: Option<PathBuf>,
    /// `--tls_cert_file`, `--tls_key_file`, `--tls_client_ca_file`.
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
}

/// Password checks running at once (each is CPU-bound on a blocking thread).
const CHECKS_AT_ONCE: usize = 1;
/// Password checks allowed to wait for one; past it a request gets 503.
const CHECKS_WAITING: usize = 32;
/// Share of one core that password checks may take over time, and the burst allowed; past it, a
/// request that needs a check gets 503 (remembered passwords still pass), so a flood of wrong
/// passwords cannot take the CPU collection needs, whatever the hashes' cost.
const CHECK_SHARE: f64 = 0.25;
const CHECK_BURST: Duration = Duration::from_secs(1);
/// How long a verified password is remembered.
const REMEMBER: Duration = Duration::from_secs(600);
/// Verified passwords remembered at once.
const REMEMBERED: usize = 1024;

enum Password {
    Basic {
        file: Arc<Watched<Htpasswd>>,
        realm: String,
    },
    Digest {
        file: Arc<Watched<Htdigest>>,
        auth: Box<DigestAuth>,
    },
}

/// A verified password: keyed hash of `user:password`, when, and the file it verified against.
type Remembered = (ring::hmac::Tag, Instant, Arc<Htpasswd>);

/// The authentication state shared by every request.
pub struct Access {
    /// `<url_base_prefix>/healthz`, the one open route.
    exempt: String,
    password: Option<Password>,
    bearer: Option<Arc<Watched<Tokens>>>,
    bearer_realm: String,
    client_certs: bool,
    checks: Semaphore,
    waiting: AtomicUsize,
    budget: Mutex<Budget>,
    key: ring::hmac::Key,
    /// user → (keyed hash of user and password, when verified, the file it verified against).
    remembered: Mutex<HashMap<String, Remembered>>,
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn load_htpasswd(path: &Path) -> Result<Htpasswd, String> {
    let h = Htpasswd::parse(&read_text(path)?);
    for skipped in &h.skipped {
        warn!(file = %path.display(), "{skipped}");
    }
    if h.is_empty() {
        return Err(format!("{}: no usable user:hash line", path.display()));
    }
    Ok(h)
}

fn load_htdigest(path: &Path, realm: &str) -> Result<Htdigest, String> {
    let h = Htdigest::parse(&read_text(path)?);
    for line in &h.skipped {
        warn!(file = %path.display(), line, "not a user:realm:md5 line");
    }
    if h.users_in(realm) == 0 {
        return Err(format!(
            "{}: no user in realm {realm:?} (--http_digest_realm)",
            path.display()
        ));
    }
    Ok(h)
}

fn load_tokens(path: &Path) -> Result<Tokens, String> {
    let t = Tokens::parse(&read_text(path)?);
    if t.is_empty() {
        return Err(format!("{}: no token", path.display()));
    }
    Ok(t)
}

/// What a request presents to be checked (owned: the check awaits, and a request is not `Sync`).
struct Presented {
    authorization: Option<String>,
    method: String,
    /// The request-target as sent (path and query).
    uri: String,
    client_cert: bool,
}

impl Presented {
    fn of(req: &Request) -> Self {
        Self {
            authorization: req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            method: req.method().as_str().to_owned(),
            uri: req
                .uri()
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            client_cert: req
                .extensions()
                .get::<Connection>()
                .is_some_and(|c| c.client_cert),
        }
    }
}

/// What checking a request's credentials found.
enum Outcome {
    Ok(Option<HeaderValue>),
    Missing,
    Invalid,
    Stale,
    Busy,
}

/// Password-check time left (seconds; may go below zero after an expensive check), refilled at
/// [`CHECK_SHARE`] per second up to [`CHECK_BURST`].
struct Budget {
    left: f64,
    at: Instant,
}

impl Budget {
    fn refill(&mut self, now: Instant) -> f64 {
        let earned = now.duration_since(self.at).as_secs_f64() * CHECK_SHARE;
        self.left = (self.left + earned).min(CHECK_BURST.as_secs_f64());
        self.at = now;
        self.left
    }
}

/// Decrements the waiting count when a waiting check ends (or its request is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Access {
    /// Loads the files named by `config` (failing when one is unusable) and starts watching them.
    /// Needs a Tokio runtime.
    pub fn start(config: &AccessConfig, url_base_prefix: &str) -> Result<Arc<Self>, String> {
        let password = if let Some(p) = &config.htpasswd {
            let path = p.clone();
            let file = Watched::start("htpasswd file", vec![p.clone()], move || {
                load_htpasswd(&path)
            })?;
            Some(Password::Basic {
                file,
                realm: config.basic_realm.clone(),
            })
        } else if let Some(p) = &config.htdigest {
            let (path, realm) = (p.clone(), config.digest_realm.clone());
            let file = Watched::start("htdigest file", vec![p.clone()], move || {
                load_htdigest(&path, &realm)
            })?;
            Some(Password::Digest {
                file,
                auth: Box::new(DigestAuth::new(&config.digest_realm)),
            })
        } else {
            None
        };
        let bearer = match &config.bearer_tokens {
            Some(p) => {
                let path = p.clone();
                Some(Watched::start(
                    "bearer token file",
                    vec![p.clone()],
                    move || load_tokens(&path),
                )?)
            }
            None => None,
        };
        let client_certs = config.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        Ok(Arc::new(Self::new(
            url_base_prefix,
            password,
            bearer,
            config.basic_realm.clone(),
            client_certs,
        )))
    }

    fn new(
        url_base_prefix: &str,
        password: Option<Password>,
        bearer: Option<Arc<Watched<Tokens>>>,
        bearer_realm: String,
        client_certs: bool,
    ) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"bpfadvisor"));
        Self {
            exempt: format!("{}/healthz", url_base_prefix.trim_end_matches('/')),
            password,
            bearer,
            bearer_realm,
            client_certs,
            checks: Semaphore::new(CHECKS_AT_ONCE),
            waiting: AtomicUsize::new(0),
            budget: Mutex::new(Budget {
                left: CHECK_BURST.as_secs_f64(),
                at: Instant::now(),
            }),
            key,
            remembered: Mutex::new(HashMap::new()),
        }
    }

    /// In-process access with fixed files (tests): Basic with `htpasswd` text or Digest with
    /// `htdigest` text, and bearer tokens.
    pub fn fixed(
        url_base_prefix: &str,
        realm: &str,
        htpasswd: Option<&str>,
        htdigest: Option<&str>,
        tokens: Option<&str>,
    ) -> Arc<Self> {
        let password = match (htpasswd, htdigest) {
            (Some(h), _) => Some(Password::Basic {
                file: Watched::fixed("htpasswd", Htpasswd::parse(h)),
                realm: realm.to_string(),
            }),
            (None, Some(d)) => Some(Password::Digest {
                file: Watched::fixed("htdigest", Htdigest::parse(d)),
                auth: Box::new(DigestAuth::new(realm)),
            }),
            (None, None) => None,
        };
        let bearer = tokens.map(|t| Watched::fixed("tokens", Tokens::parse(t)));
        Arc::new(Self::new(
            url_base_prefix,
            password,
            bearer,
            realm.to_string(),
            false,
        ))
    }

    /// Whether no method is configured (everything open, as cAdvisor's API).
    pub fn is_open(&self) -> bool {
        self.password.is_none() && self.bearer.is_none() && !self.client_certs
    }

    /// The method names configured, for the start-up log.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        match &self.password {
            Some(Password::Basic { .. }) => m.push("basic"),
            Some(Password::Digest { .. }) => m.push("digest"),
            None => {}
        }
        if self.bearer.is_some() {
            m.push("bearer");
        }
        if self.client_certs {
            m.push("client-certificate");
        }
        m
    }

    async fn check(&self, req: Presented) -> Outcome {
        if self.client_certs && req.client_cert {
            return Outcome::Ok(None);
        }
        let Some(value) = req.authorization else {
            return Outcome::Missing;
        };
        let value = value.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return match &self.bearer {
                Some(t) if t.get().accepts(rest) => Outcome::Ok(None),
                Some(_) => Outcome::Invalid,
                None => Outcome::Missing,
            };
        }
        match &self.password {
            Some(Password::Basic { file, .. }) if scheme.eq_ignore_ascii_case("basic") => {
                self.check_basic(file.get(), rest).await
            }
            Some(Password::Digest { file, auth }) if scheme.eq_ignore_ascii_case("digest") => {
                match auth.check(rest, &req.method, &req.uri, &file.get()) {
                    Checked::Ok {
                        authentication_info,
                    } => Outcome::Ok(HeaderValue::from_str(&authentication_info).ok()),
                    Checked::Stale => Outcome::Stale,
                    Checked::Refused => Outcome::Invalid,
                }
            }
            _ => Outcome::Missing,
        }
    }

    async fn check_basic(&self, file: Arc<Htpasswd>, b64: &str) -> Outcome {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return Outcome::Invalid;
        };
        let Some(colon) = raw.iter().position(|&b| b == b':') else {
            return Outcome::Invalid;
        };
        let user = String::from_utf8_lossy(&raw[..colon]).into_owned();
        let password = raw[colon + 1..].to_vec();
        let tag = ring::hmac::sign(&self.key, &raw);
        if self.remembers(&user, &tag, &file) {
            return Outcome::Ok(None);
        }
        let Some((hash, known)) = file.lookup(&user).map(|(h, k)| (h.clone(), k)) else {
            return Outcome::Invalid;
        };
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= CHECKS_WAITING {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Outcome::Busy;
        }
        let waiting = Waiting(&self.waiting);
        let Ok(_slot) = self.checks.acquire().await else {
            return Outcome::Busy;
        };
        drop(waiting);
        if self.budget().refill(Instant::now()) <= 0.0 {
            return Outcome::Busy;
        }
        let started = Instant::now();
        let ok = tokio::task::spawn_blocking(move || hash.verify(&password))
            .await
            .unwrap_or(false);
        self.budget().left -= started.elapsed().as_secs_f64();
        if !(ok && known) {
            return Outcome::Invalid;
        }
        let mut r = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        if r.len() >= REMEMBERED {
            r.clear();
        }
        r.insert(user, (tag, Instant::now(), file));
        Outcome::Ok(None)
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remembers(&self, user: &str, tag: &ring::hmac::Tag, file: &Arc<Htpasswd>) -> bool {
        use subtle::ConstantTimeEq;
        let r = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        r.get(user).is_some_and(|(t, at, f)| {
            Arc::ptr_eq(f, file)
                && at.elapsed() < REMEMBER
                && bool::from(t.as_ref().ct_eq(tag.as_ref()))
        })
    }

    /// The 401: one challenge per configured HTTP scheme, the same body whatever was wrong.
    fn unauthorized(&self, stale: bool) -> Response {
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            "401 Unauthorized\n",
        )
            .into_response();
        let mut challenges = Vec::new();
        match &self.password {
            Some(Password::Basic { realm, .. }) => {
                challenges.push(format!("Basic realm={}", digest::quote(realm)));
            }
            Some(Password::Digest { auth, .. }) => challenges.push(auth.challenge(stale)),
            None => {}
        }
        if self.bearer.is_some() {
            challenges.push(format!(
                "Bearer realm={}",
                digest::quote(&self.bearer_realm)
            ));
        }
        for c in challenges {
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// The authentication middleware.
pub async fn guard(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    if access.is_open() || req.uri().path() == access.exempt {
        return next.run(req).await;
    }
    let reason = match access.check(Presented::of(&req)).await {
        Outcome::Ok(info) => {
            let mut resp = next.run(req).await;
            if let Some(info) = info {
                resp.headers_mut().insert("authentication-info", info);
            }
            return resp;
        }
        Outcome::Stale => return access.unauthorized(true),
        Outcome::Busy => {
            limits::refused(Refusal::AuthBusy);
            let mut resp = (
                StatusCode::SERVICE_UNAVAILABLE,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                "too many password checks; retry shortly\n",
            )
                .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return resp;
        }
        Outcome::Missing => AuthFailure::Missing,
        Outcome::Invalid => AuthFailure::Invalid,
    };
    AuthFailed {
        reason,
        peer: req.extensions().get::<Connection>().map(|c| c.peer),
        path: req.uri().path(),
    }
    .emit();
    access.unauthorized(false)
}

/// Wraps every route of `router`: authentication first (an unauthenticated request never gets
/// further than a 401), then the request limits.
pub fn protect(
    router: Router,
    access: Arc<Access>,
    limits: Limits,
    url_base_prefix: &str,
) -> Router {
    let limit_state = limits::LimitState::new(limits, url_base_prefix);
    // As a fallback service, so unknown paths are guarded too (no probing for routes).
    let inner = router.layer(from_fn_with_state(limit_state, limits::limit));
    Router::new().fallback_service(inner.layer(from_fn_with_state(access, guard)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app(access: Arc<Access>, limits: Limits, prefix: &str) -> Router {
        let never_ends = || async {
            Body::from_stream(futures::stream::pending::<
                Result<axum::body::Bytes, std::io::Error>,
            >())
        };
        let routes = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/metrics", get(|| async { "m" }))
            .route("/api/{*rest}", get(never_ends));
        let routes = if prefix.is_empty() {
            routes
        } else {
            Router::new().nest(prefix, routes)
        };
        protect(routes, access, limits, prefix)
    }

    async fn status(app: &Router, path: &str, auth: Option<&str>) -> StatusCode {
        let mut req = Request::builder().uri(path);
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = req.body(Body::empty()).expect("request");
        app.clone().oneshot(req).await.expect("infallible").status()
    }

    fn basic(user_pw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pw)
        )
    }

    // `htpasswd -nbs alice secret` (Debian 12).
    const HTPASSWD: &str = "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n";

    #[tokio::test]
    async fn everything_but_healthz_under_the_prefix_is_guarded() {
        let a = Access::fixed("/cadvisor", "r", Some(HTPASSWD), None, Some("tok"));
        let app = app(a, Limits::default(), "/cadvisor");
        assert_eq!(
            status(&app, "/cadvisor/healthz", None).await,
            StatusCode::OK
        );
        for path in [
            "/cadvisor/metrics",
            "/healthz",
            "/cadvisor/healthz/",
            "/elsewhere",
        ] {
            assert_eq!(
                status(&app, path, None).await,
                StatusCode::UNAUTHORIZED,
                "{path}"
            );
        }
        let right = basic("alice:secret");
        assert_eq!(
            status(&app, "/cadvisor/metrics", Some(&right)).await,
            StatusCode::OK
        );
        // Remembered: the second check needs no hashing, and a wrong one is still refused.
        assert_eq!(
            status(&app, "/cadvisor/metrics", Some(&right)).await,
            StatusCode::OK
        );
        let wrong = basic("alice:secreT");
        assert_eq!(
            status(&app, "/cadvisor/metrics", Some(&wrong)).await,
            StatusCode::UNAUTHORIZED
        );
        // Any configured method will do.
        assert_eq!(
            status(&app, "/cadvisor/metrics", Some("Bearer tok")).await,
            StatusCode::OK
        );
        assert_eq!(
            status(&app, "/cadvisor/metrics", Some("bearer  tok ")).await,
            StatusCode::OK
        );
        for junk in [
            "Basic !!!",
            "Basic",
            "Digest x=1",
            "Bearer",
            "Negotiate abc",
        ] {
            assert_eq!(
                status(&app, "/cadvisor/metrics", Some(junk)).await,
                StatusCode::UNAUTHORIZED,
                "{junk}"
            );
        }
    }

    #[tokio::test]
    async fn open_without_configuration() {
        let a = Access::fixed("", "r", None, None, None);
        assert!(a.is_open() && a.methods().is_empty());
        let app = app(a, Limits::default(), "");
        assert_eq!(status(&app, "/metrics", None).await, StatusCode::OK);
        assert_eq!(status(&app, "/nope", None).await, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn event_streams_are_capped_until_one_closes() {
        let a = Access::fixed("", "r", None, None, None);
        let limits = Limits {
            max_event_streams: 1,
            ..Limits::default()
        };
        let app = app(a, limits, "");
        let stream = "/api/v1.3/events/?stream=true";
        let open = |app: Router| async move {
            let req = Request::builder()
                .uri(stream)
                .body(Body::empty())
                .expect("req");
            app.oneshot(req).await.expect("infallible")
        };
        let first = open(app.clone()).await;
        assert_eq!(first.status(), StatusCode::OK);
        let second = open(app.clone()).await;
        assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
        let msg = axum::body::to_bytes(second.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(
            &msg[..],
            b"too many event streams open (limit 1); close one and retry\n"
        );
        assert_eq!(
            status(&app, "/api/v1.3/events/", None).await,
            StatusCode::OK,
            "a non-streaming query takes no slot"
        );
        drop(first);
        assert_eq!(open(app).await.status(), StatusCode::OK, "slot freed");
    }
}
