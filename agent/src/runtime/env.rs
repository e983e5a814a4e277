//! Which environment variables of a container become its `spec.envs` (and so its `container_env_*`
//! labels), picked as cAdvisor picks them for each runtime:
//!
//! - a key is kept when it starts with one of the whitelisted prefixes, case-sensitively
//!   (`TEST` keeps `TEST_VAR`, not `test_var`); empty prefixes match nothing;
//! - Docker and Podman store the key lower-cased (`TEST_VAR=FOO` → `test_var: FOO`), containerd as
//!   written; CRI-O reports no environment at all;
//! - when two kept keys lower-case to the same one, the later assignment wins, visiting the
//!   prefixes in flag order and, for each, the variables in the container's order.

use std::collections::BTreeMap;

use super::RuntimeKind;

/// How a runtime's kept keys are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyCase {
    #[default]
    Lower,
    AsWritten,
}

/// The whitelist flags: `--env_metadata_whitelist` and the per-runtime flags it replaced
/// (`--docker_env_metadata_whitelist`, `--containerd_env_metadata_whitelist`, cAdvisor before
/// v0.41), which still apply to their runtime while the unified flag is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvWhitelist {
    pub unified: Vec<String>,
    pub docker: Vec<String>,
    pub containerd: Vec<String>,
}

impl EnvWhitelist {
    /// Only `--env_metadata_whitelist`.
    pub fn unified(prefixes: Vec<String>) -> Self {
        Self {
            unified: prefixes,
            ..Self::default()
        }
    }

    /// The filter a runtime's client applies.
    pub fn for_runtime(&self, kind: RuntimeKind) -> EnvFilter {
        let deprecated = match kind {
            RuntimeKind::Docker => &self.docker,
            RuntimeKind::Containerd => &self.containerd,
            _ => &self.unified,
        };
        let prefixes = if self.unified.is_empty() {
            deprecated
        } else {
            &self.unified
        };
        let case = match kind {
            RuntimeKind::Containerd => KeyCase::AsWritten,
            _ => KeyCase::Lower,
        };
        EnvFilter {
            prefixes: prefixes.clone(),
            case,
        }
    }
}

/// One runtime's whitelist and key case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFilter {
    pub prefixes: Vec<String>,
    pub case: KeyCase,
}

impl EnvFilter {
    /// The kept `KEY=value` pairs of `env`; entries without `=` are skipped.
    pub fn pick(&self, env: &[String]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for prefix in self.prefixes.iter().filter(|p| !p.is_empty()) {
            for (key, value) in env.iter().filter_map(|kv| kv.split_once('=')) {
                if key.starts_with(prefix.as_str()) {
                    let key = match self.case {
                        KeyCase::Lower => key.to_lowercase(),
                        KeyCase::AsWritten => key.to_string(),
                    };
                    out.insert(key, value.to_string());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn filter(prefixes: &[&str], case: KeyCase) -> EnvFilter {
        EnvFilter {
            prefixes: strings(prefixes),
            case,
        }
    }

    #[test]
    fn prefixes_match_case_sensitively_and_keys_are_lowered() {
        let env = strings(&[
            "TEST_VAR=FOO",
            "test_other=x",
            "OTHER=x=y",
            "NOEQUALS",
            "TESTING=",
        ]);
        let got = filter(&["TEST", "OTH", ""], KeyCase::Lower).pick(&env);
        assert_eq!(
            got,
            BTreeMap::from([
                ("test_var".into(), "FOO".into()),
                ("testing".into(), String::new()),
                ("other".into(), "x=y".into()),
            ])
        );
        let kept = filter(&["TEST"], KeyCase::AsWritten).pick(&env);
        assert_eq!(kept.get("TEST_VAR").map(String::as_str), Some("FOO"));
        assert!(filter(&[""], KeyCase::Lower).pick(&env).is_empty());
        assert!(filter(&[], KeyCase::Lower).pick(&env).is_empty());
    }

    #[test]
    fn colliding_keys_keep_the_last_assignment() {
        // Prefix `A_` sets a_x from A_X then A_x; prefix `A_X` sets it from A_X again, last.
        let env = strings(&["A_X=upper", "A_x=mixed"]);
        assert_eq!(
            filter(&["A_"], KeyCase::Lower).pick(&env),
            BTreeMap::from([("a_x".into(), "mixed".into())])
        );
        assert_eq!(
            filter(&["A_", "A_X"], KeyCase::Lower).pick(&env),
            BTreeMap::from([("a_x".into(), "upper".into())])
        );
        assert_eq!(filter(&["A_"], KeyCase::AsWritten).pick(&env).len(), 2);
    }

    #[test]
    fn unified_flag_wins_else_the_runtime_flag() {
        let old = EnvWhitelist {
            unified: vec![],
            docker: strings(&["D_"]),
            containerd: strings(&["C_"]),
        };
        assert_eq!(
            old.for_runtime(RuntimeKind::Docker).prefixes,
            strings(&["D_"])
        );
        assert_eq!(
            old.for_runtime(RuntimeKind::Containerd).prefixes,
            strings(&["C_"])
        );
        assert!(old.for_runtime(RuntimeKind::Podman).prefixes.is_empty());
        let both = EnvWhitelist {
            unified: strings(&["U_"]),
            ..old
        };
        for kind in [
            RuntimeKind::Docker,
            RuntimeKind::Podman,
            RuntimeKind::Containerd,
        ] {
            assert_eq!(both.for_runtime(kind).prefixes, strings(&["U_"]));
        }
        assert_eq!(both.for_runtime(RuntimeKind::Docker).case, KeyCase::Lower);
        assert_eq!(both.for_runtime(RuntimeKind::Podman).case, KeyCase::Lower);
        assert_eq!(
            both.for_runtime(RuntimeKind::Containerd).case,
            KeyCase::AsWritten
        );
    }
}
