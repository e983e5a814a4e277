//! `--http_auth_file`: an Apache htpasswd file (`user:hash` lines) and password checks for the hash
//! formats Debian's `htpasswd` (apache2-utils 2.4) writes that are safe to accept:
//!
//! | `htpasswd` | stored as | accepted by cAdvisor |
//! |---|---|---|
//! | `-m` (default) | `$apr1$salt$hash` (MD5-crypt, APR variant; `$1$` is the same algorithm) | yes |
//! | `-B [-C cost]` | `$2y$05$…` bcrypt (`$2a$`, `$2b$`, `$2x$` too) | yes |
//! | `-s` | `{SHA}base64(sha1)` | yes |
//! | `-2 [-r rounds]`, `-5` | `$5$…`, `$6$…` SHA-256/512-crypt | no (newer go-http-auth only) |
//! | `-d` | 13-character DES crypt (passwords cut to 8 characters) | no: refused |
//! | `-p` | plain text | no: refused (Apache on Linux refuses it too) |
//!
//! Parsing is pure ([`Htpasswd::parse`]); checking a password ([`Hash::verify`]) is CPU work
//! (bcrypt at cost 5 is a few milliseconds, SHA-crypt 5000 rounds about a millisecond), so the caller
//! runs it off the async workers.

use std::collections::HashMap;

use base64::Engine;
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// One stored password hash.
#[derive(Clone, PartialEq, Eq)]
pub enum Hash {
    /// `$2y$` and friends, kept verbatim for the bcrypt crate.
    Bcrypt(String),
    /// MD5-crypt with its magic (`$apr1$` or `$1$`), salt and the 22-character digest.
    Md5Crypt {
        magic: &'static str,
        salt: String,
        digest: String,
    },
    /// `{SHA}`: the unsalted SHA-1 digest.
    Sha1([u8; 20]),
    /// `$5$` / `$6$` SHA-crypt.
    ShaCrypt {
        sha512: bool,
        rounds: usize,
        salt: String,
        digest: String,
    },
}

// Never print hashes (they end up in logs through `?`).
impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// Why a line of the file is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("line {line}: no `user:hash` separator")]
    NoSeparator { line: usize },
    #[error(
        "line {line}: unsupported password hash (DES crypt `htpasswd -d` and plain text `-p` are \
         refused; use -B, -m, -2/-5 or -s)"
    )]
    Unsupported { line: usize },
    #[error("line {line}: malformed {kind} hash")]
    Malformed { line: usize, kind: &'static str },
}

/// A parsed htpasswd file: the usable entries and the lines that were skipped.
#[derive(Debug, Clone, Default)]
pub struct Htpasswd {
    users: HashMap<String, Hash>,
    /// An entry to check unknown users against, so their answer takes as long as a known one's.
    decoy: Option<Hash>,
    pub skipped: Vec<LineError>,
}

impl Htpasswd {
    /// Parses the file text. Comments (`#`) and blank lines are skipped; fields after a second `:`
    /// are ignored (as cAdvisor's reader does); a later line for the same user wins.
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim_end_matches('\r').trim_start();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut fields = l.split(':');
            let (Some(user), Some(hash)) = (fields.next(), fields.next()) else {
                out.skipped.push(LineError::NoSeparator { line });
                continue;
            };
            match Hash::parse(hash.trim(), line) {
                Ok(h) => {
                    out.decoy.get_or_insert_with(|| h.clone());
                    out.users.insert(user.to_string(), h);
                }
                Err(e) => out.skipped.push(e),
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The hash to check `user`'s password against, and whether `user` exists (the decoy stands
    /// in for an unknown user, so the check costs the same).
    pub fn lookup(&self, user: &str) -> Option<(&Hash, bool)> {
        match self.users.get(user) {
            Some(h) => Some((h, true)),
            None => self.decoy.as_ref().map(|h| (h, false)),
        }
    }
}

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn is_crypt64(s: &str) -> bool {
    s.bytes().all(|b| ITOA64.contains(&b))
}

impl Hash {
    /// The format's name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bcrypt(_) => "bcrypt",
            Self::Md5Crypt { .. } => "MD5-crypt",
            Self::Sha1(_) => "SHA-1",
            Self::ShaCrypt { sha512: false, .. } => "SHA-256-crypt",
            Self::ShaCrypt { sha512: true, .. } => "SHA-512-crypt",
        }
    }

    fn parse(s: &str, line: usize) -> Result<Self, LineError> {
        let malformed = |kind| LineError::Malformed { line, kind };
        if let Some(b64) = s.strip_prefix("{SHA}") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| malformed("SHA-1"))?;
            return <[u8; 20]>::try_from(bytes.as_slice())
                .map(Self::Sha1)
                .map_err(|_| malformed("SHA-1"));
        }
        for magic in ["$apr1$", "$1$"] {
            if let Some(rest) = s.strip_prefix(magic) {
                let (salt, digest) = rest.split_once('$').ok_or_else(|| malformed("MD5-crypt"))?;
                if salt.len() > 8 || digest.len() != 22 || !is_crypt64(digest) {
                    return Err(malformed("MD5-crypt"));
                }
                return Ok(Self::Md5Crypt {
                    magic,
                    salt: salt.to_string(),
                    digest: digest.to_string(),
                });
            }
        }
        if ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|p| s.starts_with(p))
        {
            // `$2y$NN$` + 22 salt + 31 hash characters.
            let cost_ok = s
                .get(4..6)
                .and_then(|c| c.parse::<u32>().ok())
                .is_some_and(|c| (4..=31).contains(&c));
            if s.len() != 60 || !cost_ok || s.as_bytes()[6] != b'$' || !is_crypt64(&s[7..]) {
                return Err(malformed("bcrypt"));
            }
            return Ok(Self::Bcrypt(s.to_string()));
        }
        for (magic, sha512, len) in [("$5$", false, 43), ("$6$", true, 86)] {
            if let Some(rest) = s.strip_prefix(magic) {
                let kind = if sha512 {
                    "SHA-512-crypt"
                } else {
                    "SHA-256-crypt"
                };
                let mut parts: Vec<&str> = rest.split('$').collect();
                let mut rounds = 5000;
                if let Some(r) = parts.first().and_then(|p| p.strip_prefix("rounds=")) {
                    // Out-of-range counts are clamped, as glibc does.
                    rounds = r
                        .parse::<usize>()
                        .map_err(|_| malformed(kind))?
                        .clamp(1000, 999_999_999);
                    parts.remove(0);
                }
                let [salt, digest] = parts[..] else {
                    return Err(malformed(kind));
                };
                if digest.len() != len || !is_crypt64(digest) {
                    return Err(malformed(kind));
                }
                return Ok(Self::ShaCrypt {
                    sha512,
                    rounds,
                    // SHA-crypt uses at most 16 salt characters.
                    salt: salt.chars().take(16).collect(),
                    digest: digest.to_string(),
                });
            }
        }
        Err(LineError::Unsupported { line })
    }

    /// Whether `password` matches. CPU-bound: call it from a blocking thread.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            Self::Md5Crypt {
                magic,
                salt,
                digest,
            } => md5_crypt(password, salt.as_bytes(), magic.as_bytes())
                .as_bytes()
                .ct_eq(digest.as_bytes())
                .into(),
            Self::Sha1(want) => {
                let got = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, password);
                got.as_ref().ct_eq(want).into()
            }
            Self::ShaCrypt {
                sha512,
                rounds,
                salt,
                digest,
            } => {
                let got = if *sha512 {
                    sha_crypt::Sha512Params::new(*rounds).ok().and_then(|p| {
                        sha_crypt::sha512_crypt_b64(password, salt.as_bytes(), &p).ok()
                    })
                } else {
                    sha_crypt::Sha256Params::new(*rounds).ok().and_then(|p| {
                        sha_crypt::sha256_crypt_b64(password, salt.as_bytes(), &p).ok()
                    })
                };
                got.is_some_and(|g| g.as_bytes().ct_eq(digest.as_bytes()).into())
            }
        }
    }
}

/// MD5-crypt (Poul-Henning Kamp's algorithm; Apache's `$apr1$` differs only in the magic string):
/// the 22-character digest part.
fn md5_crypt(password: &[u8], salt: &[u8], magic: &[u8]) -> String {
    let alt = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(magic)
        .chain_update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut fin = ctx.finalize();
    for i in 0..1000 {
        let mut c = Md5::new();
        if i & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if i % 3 != 0 {
            c.update(salt);
        }
        if i % 7 != 0 {
            c.update(password);
        }
        if i & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }
    let f = fin;
    let mut out = String::with_capacity(22);
    let mut put = |v: u32, n: usize| {
        let mut v = v;
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put(
            (u32::from(f[a]) << 16) | (u32::from(f[b]) << 8) | u32::from(f[c]),
            4,
        );
    }
    put(u32::from(f[11]), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by Debian 12's `htpasswd -nb<flag> <user> 'pa:ss wörd'` (apache2-utils 2.4.71), one
    // line per flag, plus `-C 4` bcrypt and `-2 -r 1000` SHA-256 with password `secret`.
    const DEBIAN: &str = "\
um:$apr1$zUcEhXEB$2tJrTLmZ0jQ.PIjxkZh8Y.
uB:$2y$05$2NrOW3zlgC4UnByWFNeXaempJhYv95.KBijES.kJtiSEPNBCcbpt2
u2:$5$wCB64JaGPNm29xkY$5KPHDOf5UkgbaFxhBj7rJgzZ3li6W/B/jg0i.akwD65
u5:$6$y6tunzExEAbTmWGh$H0tbJFAIFK9/Klbw6.ePssO79ezuhVbKexEC/MtNjQfz.cPIaJwe8IkM4O9cXv.0DZjIbOedA1M1t/RN.z4Q3.
us:{SHA}cRQ3iPZN/cUFUyAxdC91S5hcXvA=
ud:6u7/YQDCRrluE
up:pa:ss wörd
ub4:$2y$04$Ihdgzsbg60kii/ncKH4TFuaeVCsD/JsIlwKFdt5sBFjFxFhlSPZcG
ur:$5$rounds=1000$WdDp9NyEEf9xHlqi$Ot9VbZngeSNDc4OfYvEu7nGvw57oRP8Vz9ChdQt237B
";

    #[test]
    fn every_accepted_debian_format_verifies() {
        let h = Htpasswd::parse(DEBIAN);
        assert_eq!(h.len(), 7);
        let pw = "pa:ss wörd".as_bytes();
        for (user, kind) in [
            ("um", "MD5-crypt"),
            ("uB", "bcrypt"),
            ("u2", "SHA-256-crypt"),
            ("u5", "SHA-512-crypt"),
            ("us", "SHA-1"),
        ] {
            let (hash, known) = h.lookup(user).expect(user);
            assert!(known);
            assert_eq!(hash.kind(), kind);
            assert!(hash.verify(pw), "{user} right password");
            assert!(!hash.verify(b"pa:ss word"), "{user} wrong password");
            assert!(!hash.verify(b""), "{user} empty password");
        }
        for user in ["ub4", "ur"] {
            let (hash, _) = h.lookup(user).expect(user);
            assert!(hash.verify(b"secret") && !hash.verify(b"Secret"), "{user}");
        }
    }

    #[test]
    fn des_crypt_and_plain_text_are_refused_by_line() {
        let h = Htpasswd::parse(DEBIAN);
        assert_eq!(
            h.skipped,
            vec![
                LineError::Unsupported { line: 6 },
                LineError::Unsupported { line: 7 }
            ]
        );
        assert!(h.skipped[0].to_string().contains("htpasswd -d"));
        // An unknown user is checked against a decoy that never matches the empty password.
        let (decoy, known) = h.lookup("nobody").expect("decoy");
        assert!(!known && !decoy.verify(b""));
    }

    #[test]
    fn md5_crypt_matches_known_vectors() {
        // go-http-auth's README example: "hello".
        let h = Htpasswd::parse("john:$1$dlPL2MqE$oQmn16q49SqdmhenQuNgs1\n");
        assert!(h.lookup("john").expect("john").0.verify(b"hello"));
        // A password longer than 16 bytes exercises the repeated alternate digest.
        let long = Htpasswd::parse("x:$apr1$zUcEhXEB$2tJrTLmZ0jQ.PIjxkZh8Y.");
        assert!(!long.lookup("x").expect("x").0.verify(&[b'a'; 40]));
    }

    #[test]
    fn malformed_lines_are_reported_not_fatal() {
        let h = Htpasswd::parse(
            "# comment\n\n  \nnosep\na:{SHA}!!\nb:$2y$99$x\nc:$apr1$toolongsalt$x\nd:$5$rounds=x$s$h\r\n",
        );
        assert!(h.is_empty());
        assert!(h.lookup("a").is_none(), "no decoy without entries");
        assert_eq!(
            h.skipped,
            vec![
                LineError::NoSeparator { line: 4 },
                LineError::Malformed {
                    line: 5,
                    kind: "SHA-1"
                },
                LineError::Malformed {
                    line: 6,
                    kind: "bcrypt"
                },
                LineError::Malformed {
                    line: 7,
                    kind: "MD5-crypt"
                },
                LineError::Malformed {
                    line: 8,
                    kind: "SHA-256-crypt"
                },
            ]
        );
        // Hashes never show in debug output.
        let h = Htpasswd::parse("a:{SHA}cRQ3iPZN/cUFUyAxdC91S5hcXvA=\n");
        assert!(!format!("{h:?}").contains("cRQ3"));
    }
}
