//! Go `encoding/json`-compatible output: the bytes cAdvisor clients see.
//!
//! Differences from plain serde_json that clients can observe: `<`, `>`, `&`, U+2028 and U+2029
//! are escaped inside strings; floats print like Go's `strconv` (`1` not `1.0`, exponent only below
//! 1e-6 or from 1e21, spelled `1e-7` / `1e+21`); times are RFC 3339 with trimmed nanoseconds and the
//! zero time is `0001-01-01T00:00:00Z`.

use std::fmt;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::ser::Formatter;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Serialises `v` compactly, byte-for-byte as Go's `json.Marshal` would.
pub fn to_go_json<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    // Writing into a Vec cannot fail and our types have no fallible Serialize impls.
    let _ = write_go_json(&mut out, v);
    out
}

/// Streams `v` as Go-compatible JSON into `w` (e.g. a reused buffer or a socket).
pub fn write_go_json<W: Write, T: Serialize + ?Sized>(w: W, v: &T) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(w, GoFormatter);
    v.serialize(&mut ser)
}

/// A serde_json formatter reproducing Go's string escaping and float spelling.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(go_float(value, !(1e-6..1e21).contains(&value.abs())).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        // Go decides the exponent form in the float's own precision.
        let exp = !(1e-6..1e21).contains(&value.abs());
        if !value.is_finite() {
            return w.write_all(b"0");
        }
        let s = if value == 0.0 || !exp {
            format!("{value}")
        } else {
            go_exponent(&format!("{value:e}"))
        };
        w.write_all(s.as_bytes())
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json already escapes quotes, backslashes and control characters; Go additionally
        // escapes HTML-significant characters and the JavaScript line separators.
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let esc: &[u8] = match c {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            w.write_all(&fragment.as_bytes()[start..i])?;
            w.write_all(esc)?;
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Go's `float64` spelling; NaN and infinities (which Go refuses to encode) become `0`.
fn go_float(value: f64, exp: bool) -> String {
    if !value.is_finite() {
        return "0".to_owned();
    }
    if value == 0.0 || !exp {
        // Rust's Display is the shortest round-trip decimal without exponent, like Go's 'f', -1.
        format!("{value}")
    } else {
        go_exponent(&format!("{value:e}"))
    }
}

/// Turns Rust's `1.5e21` / `1e-7` into Go's `1.5e+21` / `1e-7` (two-digit minimum only for `+`,
/// because Go trims the leading zero of single-digit negative exponents).
fn go_exponent(rust: &str) -> String {
    match rust.split_once('e') {
        Some((mant, exp)) if !exp.starts_with('-') => {
            let digits = if exp.len() < 2 {
                format!("0{exp}")
            } else {
                exp.to_owned()
            };
            format!("{mant}e+{digits}")
        }
        _ => rust.to_owned(),
    }
}

/// A point in time as Go's `time.Time` in JSON, stored as Unix nanoseconds (8 bytes).
///
/// The zero value (Go's `time.Time{}`, year 1) is a sentinel below every real instant; real
/// instants cover 1677–2262, which is what an `i64` of nanoseconds holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Go's zero `time.Time`; serialises as `"0001-01-01T00:00:00Z"`.
    pub const ZERO: Timestamp = Timestamp(i64::MIN);

    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// From Unix nanoseconds. `i64::MIN` is the zero time.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// Unix nanoseconds; `i64::MIN` for [`Timestamp::ZERO`].
    pub const fn as_unix_nanos(self) -> i64 {
        self.0
    }

    /// Unix seconds as a float (for Prometheus); 0 for the zero time.
    pub fn as_unix_secs_f64(self) -> f64 {
        if self.is_zero() {
            0.0
        } else {
            self.0 as f64 / 1e9
        }
    }

    pub const fn is_zero(self) -> bool {
        self.0 == i64::MIN
    }

    /// Nanoseconds from `earlier` to `self` (negative if `self` is earlier).
    pub fn nanos_since(self, earlier: Timestamp) -> i128 {
        i128::from(self.0) - i128::from(earlier.0)
    }

    /// Parses RFC 3339 with any offset (`Z`, `+02:00`), as Go's `time.Time` unmarshalling does.
    pub fn parse_rfc3339(s: &str) -> Result<Self, time::error::Parse> {
        let dt = OffsetDateTime::parse(s, &Rfc3339)?;
        Ok(Self::from_i128(dt.unix_timestamp_nanos()))
    }

    fn from_i128(nanos: i128) -> Self {
        // Anything before 1677 (including Go's year-1 zero time) collapses to the zero sentinel.
        match i64::try_from(nanos) {
            Ok(n) => Timestamp(n),
            Err(_) if nanos < 0 => Self::ZERO,
            Err(_) => Timestamp(i64::MAX),
        }
    }
}

impl Default for Timestamp {
    fn default() -> Self {
        Self::ZERO
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        let nanos = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
            Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
        };
        Self::from_i128(nanos)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0001-01-01T00:00:00Z");
        }
        let Ok(dt) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0)) else {
            return f.write_str("0001-01-01T00:00:00Z");
        };
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )?;
        let mut ns = dt.nanosecond();
        if ns != 0 {
            // Nine digits with trailing zeros trimmed, without allocating.
            let mut width = 9;
            while ns % 10 == 0 {
                ns /= 10;
                width -= 1;
            }
            write!(f, ".{ns:0width$}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Binary formats (the in-memory sample cache) keep the nanoseconds: formatting RFC 3339
        // text there only to parse it back on the way out cost more than the rest of a sample.
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !d.is_human_readable() {
            return i64::deserialize(d).map(Timestamp);
        }
        // Go leaves a time unchanged (zero) when it is JSON null.
        let Some(s) = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? else {
            return Ok(Timestamp::ZERO);
        };
        Timestamp::parse_rfc3339(&s)
            .map_err(|e| serde::de::Error::custom(format!("parse time {s:?}: {e}")))
    }
}

/// `serialize_with` for float fields: NaN and infinities (which Go cannot encode, and which
/// serde_json would print as `null`) are written as `0`.
pub(crate) fn finite_f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(if v.is_finite() { *v } else { 0.0 })
}

/// `finite_f64` for `float32` fields.
pub(crate) fn finite_f32<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f32(if v.is_finite() { *v } else { 0.0 })
}

/// `omitempty` predicates, named after the Go zero value they test.
pub(crate) fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}
pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
pub(crate) fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s<T: Serialize>(v: &T) -> String {
        String::from_utf8(to_go_json(v)).expect("utf-8")
    }

    #[test]
    fn floats_are_spelled_like_go() {
        // Expected strings are what Go's json.Marshal prints for the same float64 values
        // (checked with Go 1.19; float encoding is unchanged since).
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.0, "0"),
            (-0.0, "-0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (12.34, "12.34"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e-10, "1e-10"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.25e22, "1.25e+22"),
            (1e100, "1e+100"),
            (-2.5e-8, "-2.5e-8"),
            (0.30000000000000004, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (v, want) in cases {
            assert_eq!(s(v), *want, "value {v:e}");
        }
        assert_eq!(s(&0.1f32), "0.1");
        // serde_json turns non-finite floats into `null` before the formatter sees them, so
        // float fields go through `finite_f64`, which writes Go's nearest legal value, 0.
        #[derive(Serialize)]
        struct F(#[serde(serialize_with = "finite_f64")] f64);
        assert_eq!(s(&F(f64::NAN)), "0");
        assert_eq!(s(&F(f64::NEG_INFINITY)), "0");
        assert_eq!(s(&F(2.5)), "2.5");
        assert_eq!(s(&1e-7f32), "1e-7");
    }

    #[test]
    fn strings_are_html_escaped() {
        assert_eq!(
            s(&"<a href=\"x\">&amp;</a>\u{2028}\u{2029}\n\t\u{1}é"),
            r#""\u003ca href=\"x\"\u003e\u0026amp;\u003c/a\u003e\u2028\u2029\n\t\u0001é""#
        );
        assert_eq!(s(&"plain"), r#""plain""#);
    }

    #[test]
    fn timestamps_match_go() {
        assert_eq!(s(&Timestamp::ZERO), r#""0001-01-01T00:00:00Z""#);
        assert_eq!(s(&Timestamp::default()), r#""0001-01-01T00:00:00Z""#);
        // 2026-11-22T18:16:29.91470285Z (from a live cAdvisor event stream).
        let t = Timestamp::from_unix_nanos(1_795_371_389_914_702_850);
        assert_eq!(s(&t), r#""2026-11-22T18:16:29.91470285Z""#);
        assert_eq!(
            s(&Timestamp::from_unix_nanos(1_795_371_389_000_000_000)),
            r#""2026-11-22T18:16:29Z""#
        );
        assert_eq!(
            s(&Timestamp::from_unix_nanos(1_795_371_389_000_000_001)),
            r#""2026-11-22T18:16:29.000000001Z""#
        );
        assert_eq!(
            s(&Timestamp::from_unix_nanos(0)),
            r#""1970-01-01T00:00:00Z""#
        );
    }

    #[test]
    fn timestamps_parse_any_offset() {
        let t: Timestamp = serde_json::from_str(r#""2026-11-22T18:16:29.91470285Z""#).expect("t");
        assert_eq!(t.as_unix_nanos(), 1_795_371_389_914_702_850);
        let t2: Timestamp =
            serde_json::from_str(r#""2026-11-22T20:16:29.91470285+02:00""#).expect("t2");
        assert_eq!(t, t2);
        let z: Timestamp = serde_json::from_str(r#""0001-01-01T00:00:00Z""#).expect("zero");
        assert!(z.is_zero());
        assert!(
            serde_json::from_str::<Timestamp>("null")
                .expect("null")
                .is_zero()
        );
        assert!(serde_json::from_str::<Timestamp>(r#""yesterday""#).is_err());
    }

    #[test]
    fn timestamps_order_and_convert() {
        let a = Timestamp::from_unix_nanos(1);
        let b = Timestamp::from_unix_nanos(2);
        assert!(Timestamp::ZERO < a && a < b);
        assert_eq!(b.nanos_since(a), 1);
        let now = Timestamp::now();
        assert!(now > Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
        assert_eq!(Timestamp::from(UNIX_EPOCH).as_unix_nanos(), 0);
    }
}
