//! cAdvisor's (and klog's) flags that bpfadvisor accepts without implementing them, and what a value
//! other than cAdvisor's default does: refuse to start, when it asks for something the agent does not
//! do (an open endpoint where authentication was asked for must never start silently), or start with
//! a one-line warning, when it changes nothing the agent serves. Either way no flag of a deployed
//! manifest is silently ignored, and a flag left at its default says nothing.
//!
//! The table below is the only list: these flags are registered with clap from it (so they are
//! accepted, Go-style, and listed by `--help`), and the README's list is checked against it. When a
//! flag gets implemented, its row goes and a field in `Cli` takes its place.

use std::time::Duration;

use clap::builder::ValueParser;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// How a flag's value is read, to compare it with the default as Go would (`60s` is `1m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    Int,
    Float,
    Duration,
    Text,
}

/// What a value other than the default does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Refuse to start; the text says what to do instead.
    Refuse(&'static str),
    /// Start with a warning; the text says why the flag changes nothing here.
    Warn(&'static str),
}

/// One accepted-but-unsupported flag.
#[derive(Debug, Clone, Copy)]
pub struct CompatFlag {
    pub name: &'static str,
    pub kind: ValueKind,
    /// cAdvisor's default, as its `--help` prints it.
    pub default: &'static str,
    pub action: Action,
}

const fn flag(
    name: &'static str,
    kind: ValueKind,
    default: &'static str,
    action: Action,
) -> CompatFlag {
    CompatFlag {
        name,
        kind,
        default,
        action,
    }
}

use Action::{Refuse, Warn};
use ValueKind::{Bool, Duration as Dur, Float, Int, Text};

const NO_APP_METRICS: Action = Warn("application metrics are not collected");
const NO_BIGQUERY: Action =
    Warn("it configures the bigquery storage driver, which bpfadvisor does not have");
const KLOG_OUTPUT: Action = Warn("logs always go to stderr (see --log_format)");
const KLOG_LEVEL: Action = Warn("klog verbosity; choose what is logged with --log_level");
const KLOG_FORMAT: Action = Warn("log lines have bpfadvisor's own format (see --log_format)");

/// Every flag of cAdvisor's binary and of klog that `Cli` does not implement.
pub const FLAGS: &[CompatFlag] = &[
    flag(
        "profiling",
        Bool,
        "false",
        Refuse("Go's pprof endpoints do not exist in bpfadvisor; remove the flag"),
    ),
    flag(
        "disable_root_cgroup_stats",
        Bool,
        "false",
        Refuse("the root cgroup's stats are always collected; remove the flag"),
    ),
    flag(
        "perf_events_config",
        Text,
        "",
        Refuse("perf events are not collected yet; remove the flag"),
    ),
    flag(
        "container_hints",
        Text,
        "/etc/cadvisor/container_hints.json",
        Refuse("container hints files are not read; remove the flag"),
    ),
    flag(
        "docker-tls",
        Bool,
        "false",
        Refuse("TLS to the Docker daemon is not supported; point --docker at its unix socket"),
    ),
    flag(
        "docker-tls-cert",
        Text,
        "cert.pem",
        Warn("used only with --docker-tls"),
    ),
    flag(
        "docker-tls-key",
        Text,
        "key.pem",
        Warn("used only with --docker-tls"),
    ),
    flag(
        "docker-tls-ca",
        Text,
        "ca.pem",
        Warn("used only with --docker-tls"),
    ),
    flag("collector_cert", Text, "", NO_APP_METRICS),
    flag("collector_key", Text, "", NO_APP_METRICS),
    flag(
        "application_metrics_count_limit",
        Int,
        "100",
        NO_APP_METRICS,
    ),
    flag(
        "resctrl_interval",
        Dur,
        "0s",
        Warn("resctrl metrics are not collected"),
    ),
    flag(
        "initial_splay_factor",
        Float,
        "1",
        Warn("housekeeping spreads samples with its own jitter (up to 10% of the interval)"),
    ),
    flag(
        "jitter_factor",
        Float,
        "1",
        Warn("housekeeping spreads samples with its own jitter (up to 10% of the interval)"),
    ),
    flag(
        "log_cadvisor_usage",
        Bool,
        "false",
        Warn("cAdvisor itself ignores it since v0.60"),
    ),
    // BigQuery's settings (the one storage driver of cAdvisor's bpfadvisor refuses).
    flag("bq_id", Text, "", NO_BIGQUERY),
    flag("bq_secret", Text, "notasecret", NO_BIGQUERY),
    flag("bq_project_id", Text, "", NO_BIGQUERY),
    flag("bq_account", Text, "", NO_BIGQUERY),
    flag("bq_credentials_file", Text, "", NO_BIGQUERY),
    // klog's flags (cAdvisor forces `-v=2` before parsing).
    flag("v", Int, "2", KLOG_LEVEL),
    flag("vmodule", Text, "", KLOG_LEVEL),
    flag("logtostderr", Bool, "true", KLOG_OUTPUT),
    flag("alsologtostderr", Bool, "false", KLOG_OUTPUT),
    flag("log_dir", Text, "", KLOG_OUTPUT),
    flag("log_file", Text, "", KLOG_OUTPUT),
    flag("log_file_max_size", Int, "1800", KLOG_OUTPUT),
    flag("stderrthreshold", Text, "2", KLOG_OUTPUT),
    flag(
        "legacy_stderr_threshold_behavior",
        Bool,
        "true",
        KLOG_OUTPUT,
    ),
    flag("one_output", Bool, "false", KLOG_OUTPUT),
    flag("log_backtrace_at", Text, ":0", KLOG_FORMAT),
    flag("skip_headers", Bool, "false", KLOG_FORMAT),
    flag("skip_log_headers", Bool, "false", KLOG_FORMAT),
    flag("add_dir_header", Bool, "false", KLOG_FORMAT),
];

/// cAdvisor's storage drivers (`--storage_driver`, comma-separated) and whether bpfadvisor has
/// each: the one place to change when a driver lands. `remote_write` is bpfadvisor's own; `kafka`
/// only when built with the `kafka` feature (the default).
pub const STORAGE_DRIVERS: [(&str, bool); 8] = [
    ("bigquery", false),
    ("elasticsearch", true),
    ("influxdb", true),
    ("kafka", cfg!(feature = "kafka")),
    ("redis", true),
    ("statsd", true),
    ("stdout", true),
    ("remote_write", true),
];

/// Why a known driver is refused.
const STORAGE_DRIVER_MISSING: &str = "bpfadvisor does not have every storage driver named (see \
     --help for those it has); remove the others (the REST API and /metrics serve the same stats)";

/// A flag value the agent will not start with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompatError {
    #[error("flag --{flag}={value} is not supported: {instead}")]
    Refused {
        flag: &'static str,
        value: String,
        instead: &'static str,
    },
    #[error("invalid value {value:?} for flag -{flag}: {reason}")]
    Invalid {
        flag: &'static str,
        value: String,
        reason: String,
    },
}

/// Adds every row of [`FLAGS`] to `cmd`, Go-style: `--name=value` or `--name value`, a bool alone
/// meaning `true`, the last of repeated flags winning.
pub fn register(cmd: Command) -> Command {
    cmd.args(FLAGS.iter().map(|f| {
        let what = match f.action {
            Refuse(_) => "not supported: refused unless left at its default",
            Warn(_) => "accepted, has no effect (warns)",
        };
        let mut arg = Arg::new(f.name)
            .long(f.name)
            .action(ArgAction::Set)
            .value_parser(ValueParser::string())
            .help(format!(
                "cAdvisor flag, {what} [cAdvisor default: {:?}]",
                f.default
            ));
        // klog's `-v` is a one-letter flag: clap takes it as a short one (`-v=4`, `-v 4`).
        if let [c] = f.name.as_bytes() {
            arg = arg.short(char::from(*c));
        }
        if f.kind == Bool {
            arg = arg.num_args(0..=1).default_missing_value("true");
        } else {
            arg = arg.num_args(1).allow_negative_numbers(true);
        }
        arg
    }))
}

/// The rows of [`FLAGS`] given on the command line, with their (last) value.
pub fn given(matches: &ArgMatches) -> Vec<(&'static str, String)> {
    FLAGS
        .iter()
        .filter(|f| matches.value_source(f.name) == Some(ValueSource::CommandLine))
        .filter_map(|f| {
            let raw: &String = matches.get_one(f.name)?;
            Some((f.name, raw.clone()))
        })
        .collect()
}

/// Checks the given flags against the table: the first refusal or invalid value is an error, else
/// one warning line per flag set to something other than its default.
pub fn check(given: &[(&'static str, String)]) -> Result<Vec<String>, CompatError> {
    let mut warnings = Vec::new();
    for (name, value) in given {
        let Some(f) = FLAGS.iter().find(|f| f.name == *name) else {
            continue;
        };
        if is_default(f, value)? {
            continue;
        }
        match f.action {
            Refuse(instead) => {
                return Err(CompatError::Refused {
                    flag: f.name,
                    value: shown(f, value),
                    instead,
                });
            }
            Warn(why) => warnings.push(format!(
                "flag --{}={} has no effect in bpfadvisor: {why}",
                f.name,
                shown(f, value)
            )),
        }
    }
    Ok(warnings)
}

/// The value as a log line may show it: passwords and secrets are not written out.
fn shown(f: &CompatFlag, value: &str) -> String {
    if f.name.ends_with("password") || f.name.ends_with("secret") {
        "<redacted>".to_string()
    } else {
        value.to_string()
    }
}

/// `--storage_driver`: the drivers named (cAdvisor splits on commas and skips empty names), each
/// known to cAdvisor and implemented here.
pub fn storage_drivers(value: &str) -> Result<Vec<String>, CompatError> {
    let mut out = Vec::new();
    for name in value.split(',').filter(|s| !s.is_empty()) {
        match STORAGE_DRIVERS.iter().find(|(n, _)| *n == name) {
            Some((_, true)) => out.push(name.to_string()),
            Some((_, false)) => {
                return Err(CompatError::Refused {
                    flag: "storage_driver",
                    value: value.to_string(),
                    instead: STORAGE_DRIVER_MISSING,
                });
            }
            None => {
                return Err(CompatError::Invalid {
                    flag: "storage_driver",
                    value: value.to_string(),
                    reason: format!("unknown backend storage driver: {name}"),
                });
            }
        }
    }
    Ok(out)
}

/// Whether `value` means the flag's default, read as Go reads that kind of flag.
fn is_default(f: &CompatFlag, value: &str) -> Result<bool, CompatError> {
    let invalid = |reason: String| CompatError::Invalid {
        flag: f.name,
        value: value.to_string(),
        reason,
    };
    Ok(match f.kind {
        Bool => go_bool(value).map_err(invalid)? == go_bool(f.default).map_err(invalid)?,
        Int => {
            let parse = |s: &str| {
                s.parse::<i64>()
                    .map_err(|e| invalid(format!("parse error: {e}")))
            };
            parse(value)? == parse(f.default)?
        }
        Float => {
            let parse = |s: &str| {
                s.parse::<f64>()
                    .map_err(|e| invalid(format!("parse error: {e}")))
            };
            parse(value)? == parse(f.default)?
        }
        Dur => {
            let parse = |s: &str| -> Result<Duration, CompatError> {
                crate::config::parse_go_duration(s).map_err(invalid)
            };
            parse(value)? == parse(f.default)?
        }
        Text => value == f.default,
    })
}

/// Go's `strconv.ParseBool`, which its bool flags use.
pub fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("parse error: invalid syntax {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(args: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        args.iter().map(|(n, v)| (*n, v.to_string())).collect()
    }

    #[test]
    fn every_default_is_a_valid_value_and_passes() {
        for f in FLAGS {
            assert_eq!(
                check(&given(&[(f.name, f.default)])),
                Ok(vec![]),
                "{}",
                f.name
            );
        }
        let names: std::collections::BTreeSet<_> = FLAGS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), FLAGS.len(), "a flag listed twice");
    }

    #[test]
    fn defaults_are_compared_by_meaning() {
        let ok = given(&[
            ("resctrl_interval", "0"),
            ("jitter_factor", "1.0"),
            ("logtostderr", "True"),
            ("profiling", "0"),
            ("v", "2"),
        ]);
        assert_eq!(check(&ok), Ok(vec![]));
    }

    #[test]
    fn unimplemented_flags_refuse_to_start() {
        let err = check(&given(&[("profiling", "true")])).expect_err("refused");
        assert!(
            err.to_string()
                .starts_with("flag --profiling=true is not supported: "),
            "{err}"
        );
        assert!(check(&given(&[("disable_root_cgroup_stats", "t")])).is_err());
    }

    #[test]
    fn no_effect_flags_warn_once_each() {
        let w = check(&given(&[
            ("v", "4"),
            ("application_metrics_count_limit", "5"),
            ("bq_project_id", "metrics"),
        ]))
        .expect("accepted");
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("flag --v=4 has no effect in bpfadvisor: klog verbosity"));
        assert!(w.iter().all(|l| !l.contains('\n')));
        let w = check(&given(&[("bq_secret", "hunter2"), ("bq_id", "s3")])).expect("accepted");
        assert!(w[0].starts_with("flag --bq_secret=<redacted> "), "{w:?}");
        assert!(w.iter().all(|l| !l.contains("hunter2")));
    }

    #[test]
    fn bad_values_are_invalid_like_go_flags() {
        assert!(matches!(
            check(&given(&[("jitter_factor", "x")])),
            Err(CompatError::Invalid { .. })
        ));
        assert!(matches!(
            check(&given(&[("profiling", "yes")])),
            Err(CompatError::Invalid { .. })
        ));
    }

    #[test]
    fn storage_drivers_by_name() {
        assert_eq!(storage_drivers(""), Ok(vec![]));
        assert_eq!(storage_drivers(","), Ok(vec![]));
        assert_eq!(storage_drivers("stdout,"), Ok(vec!["stdout".to_owned()]));
        assert_eq!(
            storage_drivers("influxdb,redis,statsd"),
            Ok(vec!["influxdb".into(), "redis".into(), "statsd".into()])
        );
        let refused = storage_drivers("stdout,bigquery").expect_err("not implemented");
        assert!(matches!(
            refused,
            CompatError::Refused {
                flag: "storage_driver",
                ..
            }
        ));
        let unknown = storage_drivers("nosuch").expect_err("unknown");
        assert!(
            unknown
                .to_string()
                .contains("unknown backend storage driver: nosuch")
        );
    }

    #[test]
    fn readme_lists_every_unsupported_flag() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));
        let section = readme
            .split("### Flags accepted but not supported")
            .nth(1)
            .expect("README has the section");
        for f in FLAGS {
            assert!(
                section.contains(&format!("`--{}`", f.name)),
                "README does not list --{}",
                f.name
            );
        }
    }
}
