//! Request parsing with cAdvisor's (and Go's) exact semantics: the `/api/` path split, container
//! names (`path.Join`), URL query values, v2 `RequestOptions`, the v1 `ContainerInfoRequest` body,
//! Go durations and `%q` quoting (which shows up in error texts clients see).

use std::time::Duration;

use super::json_error;
use crate::model::v1::ContainerInfoRequest;

/// One API error: the message cAdvisor would send (with status 500 unless stated otherwise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub String);

impl ApiError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// `/api/<version>/<type><rest>`, split as cAdvisor's regexp `/api/([^/]+)/?([^/]+)?(.*)` does
/// (unanchored: the first `/api/` followed by a non-slash byte).
pub fn split_api_path(path: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    let after = loop {
        let i = path[from..].find("/api/")? + from;
        let after = &path[i + 5..];
        if after.starts_with(|c| c != '/') {
            break after;
        }
        from = i + 1;
    };
    let vend = after.find('/').unwrap_or(after.len());
    let (version, tail) = after.split_at(vend);
    let tail = tail.strip_prefix('/').unwrap_or(tail);
    let tend = tail.find('/').unwrap_or(tail.len());
    let (rtype, rest) = tail.split_at(tend);
    Some((version, rtype, rest))
}

/// The request arguments: `rest` split on `/` with a leading empty element dropped.
pub fn request_args(rest: &str) -> Vec<&str> {
    let mut args: Vec<&str> = rest.split('/').collect();
    if args.first() == Some(&"") {
        args.remove(0);
    }
    args
}

/// Go's `path.Join("/", strings.Join(args, "/"))`: an absolute, cleaned container name.
pub fn container_name(args: &[&str]) -> String {
    clean_path(&format!("/{}", args.join("/")))
}

/// Go's `path.Clean` for absolute paths (`..` cannot climb above `/`).
pub fn clean_path(p: &str) -> String {
    crate::model::clean_container_name(p)
}

/// Go's ServeMux `cleanPath`: `path.Clean`, keeping a trailing slash.
pub fn canonical_path(p: &str) -> String {
    let mut c = clean_path(p);
    if p.ends_with('/') && c != "/" {
        c.push('/');
    }
    c
}

/// Escapes a decoded path for a `Location` header, as Go's `url.URL.String` does.
pub fn escape_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes a URL path as Go's `url.URL.Path` holds it; `None` for a malformed escape
/// (Go's server then answers 400 before any handler runs).
pub fn decode_path(raw: &str) -> Option<String> {
    unescape(raw, false)
}

fn unescape(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = (*b.get(i + 1)? as char).to_digit(16)?;
                let lo = (*b.get(i + 2)? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `r.URL.Query().Get(key)`: the first value of `key`; pairs with a bad escape or a `;` are
/// dropped, as `url.ParseQuery` does.
pub fn query_get(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter(|p| !p.is_empty() && !p.contains(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((unescape(k, true)?, unescape(v, true)?))
        })
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `type=` of a v2 request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    Name,
    Docker,
    Podman,
}

impl IdType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Docker => "docker",
            Self::Podman => "podman",
        }
    }
}

/// cAdvisor's v2 `RequestOptions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    pub id_type: IdType,
    /// Samples to return, `-1` = all.
    pub count: i64,
    pub recursive: bool,
    /// Refresh containers whose newest sample is older than this.
    pub max_age: Option<Duration>,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            id_type: IdType::Name,
            count: 64,
            recursive: false,
            max_age: None,
        }
    }
}

impl RequestOptions {
    /// cAdvisor's `GetRequestOptions` over the raw query string.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut opt = Self::default();
        if let Some(t) = query_get(query, "type").filter(|t| !t.is_empty()) {
            opt.id_type = match t.as_str() {
                "name" => IdType::Name,
                "docker" => IdType::Docker,
                "podman" => IdType::Podman,
                _ => return Err(ApiError(format!("unknown 'type' {}", go_quote(&t)))),
            };
        }
        if let Some(c) = query_get(query, "count").filter(|c| !c.is_empty()) {
            let n: i64 = c
                .parse()
                .map_err(|_| ApiError(format!("failed to parse 'count' option: {c}")))?;
            if n < -1 {
                return Err(ApiError(format!(
                    "invalid 'count' option: only -1 and larger values allowed, not {n}"
                )));
            }
            opt.count = n;
        }
        opt.recursive = query_get(query, "recursive").as_deref() == Some("true");
        if let Some(a) = query_get(query, "max_age").filter(|a| !a.is_empty()) {
            let d = parse_go_duration(&a)
                .map_err(|e| ApiError(format!("failed to parse 'max_age' option: {e}")))?;
            opt.max_age = Some(d);
        }
        Ok(opt)
    }

    /// `count` as a sample limit (`None` = all).
    pub fn limit(&self) -> Option<usize> {
        sample_limit(self.count)
    }
}

/// A Go int sample count as a limit: negative means all.
pub fn sample_limit(n: i64) -> Option<usize> {
    usize::try_from(n).ok()
}

/// The v1 request body: absent/empty → defaults (`num_stats` 60); only the first JSON value is
/// read, like Go's `json.Decoder.Decode`.
pub fn parse_info_request(body: &[u8]) -> Result<ContainerInfoRequest, ApiError> {
    let decode_err =
        |e: &dyn std::fmt::Display| ApiError(format!("unable to decode the json value: {e}"));
    let mut it = serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>();
    let mut value = match it.next() {
        None => return Ok(ContainerInfoRequest::default()),
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(decode_err(&json_error::syntax_error(body, &e))),
    };
    // Go leaves the struct untouched for `null` and refuses non-objects (serde would accept an
    // array as a struct).
    let kind = match &mut value {
        serde_json::Value::Null => return Ok(ContainerInfoRequest::default()),
        serde_json::Value::Object(map) => {
            // Go skips a `null` field and names the field on a type mismatch.
            match map.get("num_stats") {
                Some(serde_json::Value::Null) => {
                    map.remove("num_stats");
                }
                Some(v) if v.as_i64().is_none() => {
                    return Err(decode_err(&json_error::unmarshal_type_error(
                        v,
                        "ContainerInfoRequest",
                        "num_stats",
                        "int",
                    )));
                }
                _ => {}
            }
            return serde_json::from_value(value).map_err(|e| decode_err(&e));
        }
        serde_json::Value::Array(_) => "array",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
    };
    Err(decode_err(&format!(
        "json: cannot unmarshal {kind} into Go value of type v1.ContainerInfoRequest"
    )))
}

/// Go's `time.ParseDuration`; the error text is Go's. Negative durations clamp to zero (a refresh
/// older than "now minus a negative age" means "always refresh", as in cAdvisor).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
    let mut rest = s;
    let neg = rest.starts_with('-');
    rest = rest.strip_prefix(['-', '+']).unwrap_or(rest);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let scale = match unit {
            "" => return Err(format!("time: missing unit in duration {}", go_quote(s))),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            u => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(u),
                    go_quote(s)
                ));
            }
        };
        total += value * scale;
        if total > i64::MAX as f64 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok(Duration::ZERO);
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Go's `%q` / `strconv.Quote` for the strings that appear in cAdvisor's error messages.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `fmt.Sprint` of a `[]string`: `[a b]`.
pub fn go_string_slice(v: &[&str]) -> String {
    format!("[{}]", v.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::json::Timestamp;

    #[test]
    fn splits_like_cadvisor_regexp() {
        assert_eq!(
            split_api_path("/api/v1.3/containers/docker/abc"),
            Some(("v1.3", "containers", "/docker/abc"))
        );
        assert_eq!(split_api_path("/api/v1.3"), Some(("v1.3", "", "")));
        assert_eq!(split_api_path("/api/v1.3/"), Some(("v1.3", "", "")));
        assert_eq!(
            split_api_path("/api/v2.0/stats"),
            Some(("v2.0", "stats", ""))
        );
        assert_eq!(split_api_path("/api/"), None);
        assert_eq!(split_api_path("/api//x"), None);
        assert_eq!(
            split_api_path("/api//api/v1.0/machine"),
            Some(("v1.0", "machine", ""))
        );
    }

    #[test]
    fn container_names_are_path_joined() {
        assert_eq!(container_name(&request_args("/")), "/");
        assert_eq!(container_name(&request_args("")), "/");
        assert_eq!(container_name(&request_args("/docker/abc/")), "/docker/abc");
        assert_eq!(container_name(&request_args("/../../a/./b//c")), "/a/b/c");
        assert_eq!(request_args("/a/"), vec!["a", ""]);
        assert_eq!(request_args(""), Vec::<&str>::new());
        assert_eq!(canonical_path("/api//v1.3/./x/../y/"), "/api/v1.3/y/");
        assert_eq!(canonical_path("/api/"), "/api/");
        assert_eq!(canonical_path("/api/v1.3"), "/api/v1.3");
        assert_eq!(escape_path("/a b/é?#%"), "/a%20b/%C3%A9%3F%23%25");
    }

    #[test]
    fn decodes_paths_and_queries() {
        assert_eq!(decode_path("/a%2Fb%20c").as_deref(), Some("/a/b c"));
        assert_eq!(decode_path("/a%zz"), None);
        assert_eq!(decode_path("/a%4"), None);
        assert_eq!(decode_path("/a+b").as_deref(), Some("/a+b"));
        assert_eq!(query_get("a=1&a=2&b=x+y", "a").as_deref(), Some("1"));
        assert_eq!(query_get("a=1&a=2&b=x+y", "b").as_deref(), Some("x y"));
        assert_eq!(query_get("a=%zz&a=3", "a").as_deref(), Some("3"));
        assert_eq!(query_get("a;b=1", "a;b"), None);
        assert_eq!(query_get("", "a"), None);
    }

    #[test]
    fn request_options_match_get_request_options() {
        assert_eq!(
            RequestOptions::parse("").expect("ok"),
            RequestOptions::default()
        );
        let o =
            RequestOptions::parse("type=docker&count=-1&recursive=true&max_age=1m30s").expect("ok");
        assert_eq!(o.id_type, IdType::Docker);
        assert_eq!(o.count, -1);
        assert!(o.recursive);
        assert_eq!(o.max_age, Some(Duration::from_secs(90)));
        assert!(!RequestOptions::parse("recursive=1").expect("ok").recursive);
        let err = |q: &str| RequestOptions::parse(q).expect_err("fails").0;
        assert_eq!(err("type=foo"), r#"unknown 'type' "foo""#);
        assert_eq!(
            err("count=-2"),
            "invalid 'count' option: only -1 and larger values allowed, not -2"
        );
        assert_eq!(err("count=x"), "failed to parse 'count' option: x");
        assert_eq!(
            err("count=99999999999999999999"),
            "failed to parse 'count' option: 99999999999999999999"
        );
        assert_eq!(
            err("max_age=zz"),
            r#"failed to parse 'max_age' option: time: invalid duration "zz""#
        );
        assert_eq!(
            RequestOptions::parse("count=1000000000000")
                .expect("ok")
                .limit(),
            Some(1_000_000_000_000)
        );
    }

    #[test]
    fn go_durations() {
        let ok = |s: &str| parse_go_duration(s).expect(s);
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("10s"), Duration::from_secs(10));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("2h45m"), Duration::from_secs(9900));
        assert_eq!(ok("1µs"), Duration::from_micros(1));
        assert_eq!(ok("-5s"), Duration::ZERO);
        assert_eq!(
            parse_go_duration("10").expect_err("unit"),
            r#"time: missing unit in duration "10""#
        );
        assert_eq!(
            parse_go_duration("10x").expect_err("unit"),
            r#"time: unknown unit "x" in duration "10x""#
        );
        for bad in ["", "-", "s", ".s", "1..2s", "99999999999h"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn info_request_bodies() {
        let d = parse_info_request(b"").expect("empty");
        assert_eq!(d.num_stats, 60);
        assert_eq!(parse_info_request(b"  \n").expect("ws").num_stats, 60);
        assert_eq!(parse_info_request(b"null").expect("null").num_stats, 60);
        let r =
            parse_info_request(br#"{"num_stats":2,"start":"2026-11-22T18:16:29Z","x":1} trailing"#)
                .expect("ok");
        assert_eq!(r.num_stats, 2);
        assert_eq!(
            r.start,
            Timestamp::parse_rfc3339("2026-11-22T18:16:29Z").expect("ts")
        );
        assert!(r.end.is_zero());
        assert_eq!(
            parse_info_request(b"[1]").expect_err("array").0,
            "unable to decode the json value: json: cannot unmarshal array into Go value of type v1.ContainerInfoRequest"
        );
        assert_eq!(
            parse_info_request(b"{bad}").expect_err("syntax").0,
            "unable to decode the json value: invalid character 'b' looking for beginning of object key string"
        );
        assert_eq!(
            parse_info_request(br#"{"num_stats":"x"}"#)
                .expect_err("type")
                .0,
            "unable to decode the json value: json: cannot unmarshal string into Go struct field ContainerInfoRequest.num_stats of type int"
        );
        assert_eq!(
            parse_info_request(br#"{"num_stats":3"#).expect_err("eof").0,
            "unable to decode the json value: unexpected EOF"
        );
        assert_eq!(
            parse_info_request(br#"{"num_stats":null}"#)
                .expect("null field")
                .num_stats,
            60
        );
        for bad in [
            &b"{"[..],
            b"[1]",
            b"7",
            br#"{"num_stats":"x"}"#,
            b"\xff\xfe",
            br#"{"num_stats":1e99}"#,
        ] {
            let e = parse_info_request(bad).expect_err("bad");
            assert!(e.0.starts_with("unable to decode the json value: "), "{e}");
        }
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("/a\"b\\c\n\u{1}é"), r#""/a\"b\\c\n\x01é""#);
        assert_eq!(go_string_slice(&["a", "b"]), "[a b]");
        assert_eq!(go_string_slice(&["a", ""]), "[a ]");
    }
}
