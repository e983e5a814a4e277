//! `--http_bearer_token_file`: tokens accepted as `Authorization: Bearer <token>` (Prometheus's
//! `authorization` / `bearer_token_file`, a Kubernetes service-account token). One token per line so
//! a rotation can list the old and the new token for a while; blank lines and `#` comments skipped.

/// The accepted tokens, kept as SHA-256 digests so a comparison leaks neither content nor length.
#[derive(Clone, Default)]
pub struct Tokens(Vec<[u8; 32]>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({})", self.0.len())
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, b);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Tokens {
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|t| sha256(t.as_bytes()))
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `token` is one of ours; every stored token is compared, in constant time.
    pub fn accepts(&self, token: &str) -> bool {
        use subtle::ConstantTimeEq;
        let want = sha256(token.trim().as_bytes());
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |any, t| any | t.ct_eq(&want))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_per_line() {
        let t = Tokens::parse("# rotated 2026-12-01\nold-token\n\n  new-token  \n");
        assert_eq!(t.len(), 2);
        assert!(t.accepts("old-token") && t.accepts("new-token"));
        assert!(!t.accepts("new-toke") && !t.accepts("") && !t.accepts("# rotated 2026-12-01"));
        assert!(Tokens::parse("\n# only a comment\n").is_empty());
        assert_eq!(format!("{t:?}"), "Tokens(2)");
    }
}
