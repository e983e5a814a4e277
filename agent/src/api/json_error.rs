//! Go `encoding/json` error wording for the request-body mistakes clients realistically make, so a
//! client that matches on cAdvisor's error text sees the same text from us.

use super::request::go_quote;

/// Go's text for a serde_json error raised while reading `body`; serde's own text when the case
/// has no clear Go counterpart.
pub fn syntax_error(body: &[u8], e: &serde_json::Error) -> String {
    if e.classify() == serde_json::error::Category::Eof {
        return "unexpected EOF".to_owned();
    }
    let Some(c) = char_at(body, e.line(), e.column()) else {
        return e.to_string();
    };
    // serde's message without its " at line L column C" suffix.
    let full = e.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    let context = match msg {
        "key must be a string" => "looking for beginning of object key string",
        // `{"a":1,}`: Go still wants a key; `[1,]`: Go still wants a value.
        "trailing comma" if c == '}' => "looking for beginning of object key string",
        "expected value" | "trailing comma" => "looking for beginning of value",
        "expected `:`" => "after object key",
        "expected `,` or `}`" => "after object key:value pair",
        "expected `,` or `]`" => "after array element",
        m if m.starts_with("control character") => "in string literal",
        _ => return full,
    };
    format!("invalid character {} {context}", quote_char(c))
}

/// Go's `json: cannot unmarshal <kind> into Go struct field <Struct>.<field> of type <type>`, with
/// the value itself for numbers as Go prints it.
pub fn unmarshal_type_error(
    value: &serde_json::Value,
    strukt: &str,
    field: &str,
    go_type: &str,
) -> String {
    let kind = match value {
        serde_json::Value::Number(n) => format!("number {n}"),
        v => kind(v).to_owned(),
    };
    format!("json: cannot unmarshal {kind} into Go struct field {strukt}.{field} of type {go_type}")
}

/// Go's name for the kind of a JSON value.
pub fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// The character at serde's 1-based (line, byte column) position.
fn char_at(body: &[u8], line: usize, column: usize) -> Option<char> {
    let start = body
        .split_inclusive(|b| *b == b'\n')
        .take(line.checked_sub(1)?)
        .map(<[u8]>::len)
        .sum::<usize>();
    let at = start + column.checked_sub(1)?;
    let tail = body.get(at..)?;
    let end = tail.len().min(4);
    (1..=end)
        .find_map(|n| std::str::from_utf8(&tail[..n]).ok())
        .and_then(|s| s.chars().next())
}

/// Go's `quoteChar`: `'\''`, `'"'`, otherwise the `strconv.Quote` escape in single quotes.
fn quote_char(c: char) -> String {
    match c {
        '\'' => r"'\''".to_owned(),
        '"' => "'\"'".to_owned(),
        c => {
            let q = go_quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go_text(body: &str) -> String {
        let e = serde_json::from_str::<serde_json::Value>(body).expect_err("invalid JSON");
        syntax_error(body.as_bytes(), &e)
    }

    #[test]
    fn syntax_errors_read_like_go() {
        // Texts as Go 1.13's encoding/json reports them (cAdvisor v0.36 answer for `{bad}`).
        assert_eq!(
            go_text("{bad}"),
            "invalid character 'b' looking for beginning of object key string"
        );
        assert_eq!(
            go_text("x"),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(
            go_text("{\n \"num_stats\" 2}"),
            "invalid character '2' after object key"
        );
        assert_eq!(
            go_text(r#"{"num_stats":2 "start":1}"#),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(
            go_text(r#"{"num_stats":2,}"#),
            "invalid character '}' looking for beginning of object key string"
        );
        assert_eq!(
            go_text("[1,]"),
            "invalid character ']' looking for beginning of value"
        );
        assert_eq!(
            go_text("{\"a\u{1}\":1}"),
            r"invalid character '\x01' in string literal"
        );
        assert_eq!(
            go_text("{'a':1}"),
            r"invalid character '\'' looking for beginning of object key string"
        );
        assert_eq!(go_text(r#"{"num_stats":"#), "unexpected EOF");
        assert_eq!(go_text("{"), "unexpected EOF");
    }

    #[test]
    fn type_errors_name_the_go_field() {
        let v = serde_json::json!("x");
        assert_eq!(
            unmarshal_type_error(&v, "ContainerInfoRequest", "num_stats", "int"),
            "json: cannot unmarshal string into Go struct field ContainerInfoRequest.num_stats of type int"
        );
        let v = serde_json::json!(1.5);
        assert_eq!(
            unmarshal_type_error(&v, "ContainerInfoRequest", "num_stats", "int"),
            "json: cannot unmarshal number 1.5 into Go struct field ContainerInfoRequest.num_stats of type int"
        );
    }
}
