//! `--http_digest_file`: HTTP Digest authentication (RFC 7616 with `algorithm=MD5`, `qop=auth`, the
//! only combination an htdigest file can serve) against an Apache htdigest file
//! (`user:realm:md5(user:realm:password)` lines).
//!
//! Nonces are stateless: the issue time and an HMAC of it under a per-process key, so a flood of
//! unauthenticated requests costs no memory. A nonce is good for [`NONCE_LIFETIME`]; after that the
//! client is told `stale=true` and retries without asking its user again. Replays are refused by
//! remembering, per nonce in use, the highest nonce count seen (a bounded table; a nonce whose
//! entry had to be evicted is answered `stale=true`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// How long a nonce is accepted.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(600);
/// Nonces whose counts are remembered at once.
const NONCE_TABLE: usize = 4096;

/// A parsed htdigest file: HA1 per (realm, user).
#[derive(Clone, Default)]
pub struct Htdigest {
    entries: HashMap<(String, String), [u8; 32]>,
    /// Lines that were not `user:realm:<32 hex digits>` (1-based).
    pub skipped: Vec<usize>,
}

impl std::fmt::Debug for Htdigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Htdigest")
            .field("entries", &self.entries.len())
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl Htdigest {
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim_end_matches('\r').trim_start();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = l.split(':').collect();
            match f[..] {
                [user, realm, ha1, ..]
                    if ha1.len() == 32 && ha1.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(ha1.to_ascii_lowercase().as_bytes());
                    out.entries.insert((realm.to_string(), user.to_string()), h);
                }
                _ => out.skipped.push(i + 1),
            }
        }
        out
    }

    /// Entries for `realm`.
    pub fn users_in(&self, realm: &str) -> usize {
        self.entries.keys().filter(|(r, _)| r == realm).count()
    }

    fn ha1(&self, realm: &str, user: &str) -> Option<&[u8; 32]> {
        self.entries.get(&(realm.to_string(), user.to_string()))
    }
}

/// The outcome of checking an `Authorization: Digest …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Good; the value for the `Authentication-Info` response header.
    Ok { authentication_info: String },
    /// The response was right but the nonce is too old (or forgotten): challenge with `stale=true`.
    Stale,
    /// Anything else.
    Refused,
}

/// Issues nonces and checks digest responses for one realm.
pub struct DigestAuth {
    realm: String,
    key: ring::hmac::Key,
    opaque: String,
    seen: Mutex<Seen>,
}

/// Highest nonce count per nonce (issue time in ns, tag), and the newest issue time evicted.
type Seen = (HashMap<(u64, [u8; 16]), u64>, u64);

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p);
    }
    hex(&h.finalize())
}

/// A quoted-string value: `\` and `"` escaped.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `key=value` / `key="value"` pairs of an auth-param list; `None` when malformed.
pub fn parse_params(s: &str) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        if key.is_empty() || key.contains([',', ' ', '"']) {
            return None;
        }
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &q[end?..];
        } else {
            let end = rest
                .find(|c: char| c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            value = rest[..end].to_string();
            rest = &rest[end..];
        }
        out.insert(key, value);
        rest = rest.trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    Some(out)
}

impl DigestAuth {
    pub fn new(realm: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &now_nanos().to_be_bytes())
        });
        let mut opaque = [0u8; 16];
        let _ = ring::rand::SecureRandom::fill(&rng, &mut opaque);
        Self {
            realm: realm.to_string(),
            key,
            opaque: hex(&opaque),
            seen: Mutex::new((HashMap::new(), 0)),
        }
    }

    fn tag(&self, issued: u64) -> [u8; 16] {
        let t = ring::hmac::sign(&self.key, &issued.to_be_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&t.as_ref()[..16]);
        out
    }

    fn nonce_at(&self, issued: u64) -> String {
        format!("{issued:016x}{}", hex(&self.tag(issued)))
    }

    /// The `WWW-Authenticate` value for a 401.
    pub fn challenge(&self, stale: bool) -> String {
        format!(
            "Digest realm={}, nonce=\"{}\", opaque=\"{}\", algorithm=MD5, qop=\"auth\"{}",
            quote(&self.realm),
            self.nonce_at(now_nanos()),
            self.opaque,
            if stale { ", stale=true" } else { "" }
        )
    }

    /// The issue time of a nonce we made, `None` for anything else.
    fn open_nonce(&self, nonce: &str) -> Option<(u64, [u8; 16])> {
        if nonce.len() != 48 || !nonce.is_ascii() {
            return None;
        }
        let issued = u64::from_str_radix(&nonce[..16], 16).ok()?;
        let tag = self.tag(issued);
        bool::from(hex(&tag).as_bytes().ct_eq(&nonce.as_bytes()[16..])).then_some((issued, tag))
    }

    /// Checks the parameters of an `Authorization: Digest` header for a request with `method` and
    /// request-target `uri` (path and query as sent).
    pub fn check(&self, params: &str, method: &str, uri: &str, file: &Htdigest) -> Checked {
        self.check_at(params, method, uri, file, now_nanos())
    }

    fn check_at(
        &self,
        params: &str,
        method: &str,
        uri: &str,
        file: &Htdigest,
        now: u64,
    ) -> Checked {
        let Some(p) = parse_params(params) else {
            return Checked::Refused;
        };
        let get = |k: &str| p.get(k).map(String::as_str);
        let (Some(user), Some(nonce), Some(resp_uri), Some(response)) =
            (get("username"), get("nonce"), get("uri"), get("response"))
        else {
            return Checked::Refused;
        };
        let (Some(nc_hex), Some(cnonce)) = (get("nc"), get("cnonce")) else {
            return Checked::Refused;
        };
        let algorithm_ok = get("algorithm").is_none_or(|a| a.eq_ignore_ascii_case("MD5"));
        let opaque_ok = get("opaque").is_none_or(|o| o == self.opaque);
        if get("qop") != Some("auth")
            || !algorithm_ok
            || !opaque_ok
            || get("realm") != Some(self.realm.as_str())
            || resp_uri != uri
        {
            return Checked::Refused;
        }
        let Ok(nc) = u64::from_str_radix(nc_hex, 16) else {
            return Checked::Refused;
        };
        let Some((issued, tag)) = self.open_nonce(nonce) else {
            return Checked::Refused;
        };
        // Compute even for an unknown user so the answer takes as long.
        let unknown = [b'0'; 32];
        let (ha1, known) = match file.ha1(&self.realm, user) {
            Some(h) => (h, true),
            None => (&unknown, false),
        };
        let ha2 = md5_hex(&[method.as_bytes(), uri.as_bytes()]);
        let expected = md5_hex(&[
            ha1,
            nonce.as_bytes(),
            nc_hex.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]);
        let matches: bool = expected
            .as_bytes()
            .ct_eq(response.to_ascii_lowercase().as_bytes())
            .into();
        if !(matches && known) {
            return Checked::Refused;
        }
        if now.saturating_sub(issued) > NONCE_LIFETIME.as_nanos() as u64 || issued > now {
            return Checked::Stale;
        }
        {
            let mut guard = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let (table, evicted_upto) = &mut *guard;
            match table.get_mut(&(issued, tag)) {
                Some(last) if nc <= *last => return Checked::Refused,
                Some(last) => *last = nc,
                None if issued <= *evicted_upto => return Checked::Stale,
                None => {
                    if table.len() >= NONCE_TABLE {
                        let horizon = now.saturating_sub(NONCE_LIFETIME.as_nanos() as u64);
                        table.retain(|(t, _), _| *t >= horizon);
                        *evicted_upto = (*evicted_upto).max(horizon);
                    }
                    if table.len() >= NONCE_TABLE
                        && let Some(&oldest) = table.keys().min_by_key(|(t, _)| *t)
                    {
                        table.remove(&oldest);
                        *evicted_upto = (*evicted_upto).max(oldest.0);
                    }
                    table.insert((issued, tag), nc);
                }
            }
        }
        let rspauth = md5_hex(&[
            ha1,
            nonce.as_bytes(),
            nc_hex.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            md5_hex(&[b"", uri.as_bytes()]).as_bytes(),
        ]);
        Checked::Ok {
            authentication_info: format!(
                "qop=auth, rspauth=\"{rspauth}\", cnonce={}, nc={nc_hex}",
                quote(cnonce)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `htdigest -c f realm1 alice` with password `secret` (Debian 12, apache2-utils 2.4.71).
    const FILE: &str = "alice:realm1:7d97099674fa7503adc2add5d746b98c\nbob:other:7d97099674fa7503adc2add5d746b98c\nbroken\n";

    /// What a client computes (RFC 7616 §3.4.1).
    fn client(auth: &DigestAuth, nonce: &str, nc: &str, uri: &str, password: &str) -> String {
        let ha1 = md5_hex(&[b"alice", b"realm1", password.as_bytes()]);
        let ha2 = md5_hex(&[b"GET", uri.as_bytes()]);
        let resp = md5_hex(&[
            ha1.as_bytes(),
            nonce.as_bytes(),
            nc.as_bytes(),
            b"c0ffee",
            b"auth",
            ha2.as_bytes(),
        ]);
        format!(
            "username=\"alice\", realm=\"realm1\", nonce=\"{nonce}\", uri=\"{uri}\", \
             cnonce=\"c0ffee\", nc={nc}, qop=auth, response=\"{resp}\", opaque=\"{}\", algorithm=MD5",
            auth.opaque
        )
    }

    fn nonce_of(challenge: &str) -> String {
        let p = parse_params(challenge.strip_prefix("Digest ").expect("scheme")).expect("params");
        p["nonce"].clone()
    }

    #[test]
    fn parses_htdigest_files() {
        let f = Htdigest::parse(FILE);
        assert_eq!(f.users_in("realm1"), 1);
        assert_eq!(f.users_in("other"), 1);
        assert_eq!(f.skipped, vec![3]);
        assert!(!format!("{f:?}").contains("7d97"));
    }

    #[test]
    fn right_wrong_replayed_and_stale() {
        let f = Htdigest::parse(FILE);
        let a = DigestAuth::new("realm1");
        let ch = a.challenge(false);
        assert!(
            ch.starts_with("Digest realm=\"realm1\", nonce=\"") && ch.ends_with("qop=\"auth\"")
        );
        let nonce = nonce_of(&ch);
        let uri = "/api/v2.0/machine?x=1";
        let ok = client(&a, &nonce, "00000001", uri, "secret");
        assert!(matches!(a.check(&ok, "GET", uri, &f), Checked::Ok { .. }));
        assert_eq!(
            a.check(&ok, "GET", uri, &f),
            Checked::Refused,
            "replayed nc"
        );
        let next = client(&a, &nonce, "00000002", uri, "secret");
        assert!(matches!(a.check(&next, "GET", uri, &f), Checked::Ok { .. }));
        let wrong = client(&a, &nonce, "00000003", uri, "Secret");
        assert_eq!(a.check(&wrong, "GET", uri, &f), Checked::Refused);
        assert_eq!(
            a.check(&next.replace("00000002", "00000004"), "GET", uri, &f),
            Checked::Refused
        );
        let other_uri = client(&a, &nonce, "00000005", uri, "secret");
        assert_eq!(a.check(&other_uri, "GET", "/metrics", &f), Checked::Refused);
        assert_eq!(a.check(&other_uri, "POST", uri, &f), Checked::Refused);
        // A forged nonce, and one of another process.
        let forged = format!("{:016x}{}", 1u64, "0".repeat(32));
        assert_eq!(
            a.check(
                &client(&a, &forged, "00000001", uri, "secret"),
                "GET",
                uri,
                &f
            ),
            Checked::Refused
        );
        let b = DigestAuth::new("realm1");
        assert_eq!(
            b.check(
                &client(&a, &nonce, "00000009", uri, "secret"),
                "GET",
                uri,
                &f
            ),
            Checked::Refused
        );
        // An old nonce with the right password is stale, with the wrong one refused.
        let old = a.nonce_at(now_nanos() - NONCE_LIFETIME.as_nanos() as u64 - 1);
        assert_eq!(
            a.check(&client(&a, &old, "00000001", uri, "secret"), "GET", uri, &f),
            Checked::Stale
        );
        assert_eq!(
            a.check(&client(&a, &old, "00000001", uri, "nope"), "GET", uri, &f),
            Checked::Refused
        );
        assert!(a.challenge(true).ends_with(", stale=true"));
    }

    #[test]
    fn evicted_nonces_are_stale_not_replayable() {
        let f = Htdigest::parse(FILE);
        let a = DigestAuth::new("realm1");
        let uri = "/";
        let t0 = now_nanos();
        let first = a.nonce_at(t0);
        let ok = |n: &str, at: u64| {
            a.check_at(
                &client(&a, n, "00000001", uri, "secret"),
                "GET",
                uri,
                &f,
                at,
            )
        };
        assert!(matches!(ok(&first, t0), Checked::Ok { .. }));
        for i in 1..=NONCE_TABLE as u64 {
            assert!(matches!(
                ok(&a.nonce_at(t0 + i), t0 + i),
                Checked::Ok { .. }
            ));
        }
        assert_eq!(ok(&first, t0 + 10_000), Checked::Stale);
    }

    #[test]
    fn auth_params() {
        let p = parse_params(r#"a="x, \"y\"", B=tok , c="""#).expect("ok");
        assert_eq!(p["a"], "x, \"y\"");
        assert_eq!(p["b"], "tok");
        assert_eq!(p["c"], "");
        assert!(parse_params(r#"a="unterminated"#).is_none());
        assert!(parse_params("a=1 b=2").is_none());
        assert!(parse_params("=1").is_none());
        assert_eq!(quote(r#"a"b\"#), r#""a\"b\\""#);
    }
}
