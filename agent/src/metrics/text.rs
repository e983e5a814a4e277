//! Low-level pieces of the Prometheus text format 0.0.4 as the Go client writes it.

use std::io::Write;

/// Appends `v` spelled as Go's `strconv.FormatFloat(v, 'g', -1, 64)` (what the Go client emits):
/// shortest round-trip digits, exponent form when the decimal exponent is < -4 or >= 6, with a sign
/// and at least two exponent digits (`2.097152e+06`, `7e-09`).
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    // Fast path: small integers (the bulk of container values) print the same in both languages.
    if v.fract() == 0.0 && v.abs() < 1e6 && !(v == 0.0 && v.is_sign_negative()) {
        write_i64(out, v as i64);
        return;
    }
    // Positional form covers decimal exponents -4..=5; check it on Rust's shortest positional
    // spelling first (one formatting pass for the common case), else fall back to `{:e}`.
    let mut buf = [0u8; 400];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "{v}");
    let len = cur.position() as usize;
    let pos = &buf[..len];
    let digits = pos.strip_prefix(b"-").unwrap_or(pos);
    let in_range = match digits.iter().position(|&b| b == b'.') {
        // |v| >= 1: exponent = integer digits - 1.
        Some(dot) if digits[0] != b'0' => dot <= 6,
        None => digits.len() <= 6,
        // 0.000ddd: exponent = -(leading zeros after the point + 1).
        Some(dot) => digits[dot + 1..].iter().take_while(|&&b| b == b'0').count() < 4,
    };
    if in_range {
        out.extend_from_slice(pos);
        return;
    }
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "{v:e}");
    let len = cur.position() as usize;
    let sci = &buf[..len];
    let Some(e) = sci.iter().position(|&b| b == b'e') else {
        out.extend_from_slice(sci);
        return;
    };
    let exp: i32 = std::str::from_utf8(&sci[e + 1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    out.extend_from_slice(&sci[..e]);
    let _ = write!(
        out,
        "e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    );
}

/// Appends a decimal integer without going through `fmt`.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    let mut n = v.unsigned_abs();
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a label value with `\`, `"` and newline escaped.
pub fn write_label_value(out: &mut Vec<u8>, v: &str) {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.extend_from_slice(v.as_bytes());
        return;
    }
    for b in v.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Appends `# HELP` and `# TYPE` lines (HELP escapes `\` and newline).
pub fn write_header(out: &mut Vec<u8>, name: &str, help: &str, ty: &str) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    for b in help.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(ty.as_bytes());
    out.push(b'\n');
}

/// cAdvisor's `sanitizeLabelName`: every byte outside `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize_label_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, v);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn floats_are_spelled_like_go() {
        // Spellings taken from cAdvisor's lib/metrics/testdata/prometheus_metrics golden file.
        assert_eq!(f(2097152.0), "2.097152e+06");
        assert_eq!(f(7e-9), "7e-09");
        assert_eq!(f(1.724314), "1.724314");
        assert_eq!(f(984285.0), "984285");
        assert_eq!(f(0.053643567), "0.053643567");
        assert_eq!(f(479.424566378), "479.424566378");
        assert_eq!(f(1395066363.0), "1.395066363e+09");
        assert_eq!(f(2168421613568.0), "2.168421613568e+12");
        assert_eq!(f(0.66666666666), "0.66666666666");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(123.0), "123");
        assert_eq!(f(123456.5), "123456.5");
        assert_eq!(f(1234567.5), "1.2345675e+06");
        assert_eq!(f(999999.0), "999999");
        assert_eq!(f(-0.00012), "-0.00012");
        assert_eq!(f(0.000012), "1.2e-05");
        assert_eq!(f(1e300), "1e+300");
        assert_eq!(f(1.5e-300), "1.5e-300");
        let mut out = Vec::new();
        write_i64(&mut out, -1395066363000);
        write_i64(&mut out, 0);
        assert_eq!(out, b"-13950663630000");
        assert_eq!(f(-1.0), "-1");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(0.00001), "1e-05");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NAN), "NaN");
    }

    #[test]
    fn label_values_and_names() {
        let mut out = Vec::new();
        write_label_value(&mut out, "a\"b\\c\nd");
        assert_eq!(out, b"a\\\"b\\\\c\\nd");
        assert_eq!(
            sanitize_label_name("io.kubernetes.pod-name"),
            "io_kubernetes_pod_name"
        );
    }
}
