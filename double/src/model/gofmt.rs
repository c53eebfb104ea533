//! Go `%#v` / `%q` renderings of the values that appear in upstream field-error messages
//! (upstream: staging/src/k8s.io/apimachinery/pkg/util/validation/field/errors.go `ErrorBody`:
//! strings use `%q`, other named types fall back to `%#v`).

/// Go `strconv.Quote` for the printable-ASCII strings the API carries (escapes `"` and `\`,
/// control characters as `\n`, `\t` or `\x..`).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `%#v` of a Go slice of a string type, e.g. `[]core.IPFamily{"IPv6", "IPv4"}`;
/// `None` renders a nil slice (`[]string(nil)`).
pub fn string_slice(go_type: &str, items: Option<&[String]>) -> String {
    match items {
        None => format!("[]{go_type}(nil)"),
        Some(items) => {
            let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[]{go_type}{{{}}}", quoted.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_go() {
        assert_eq!(quote("SingleStack"), "\"SingleStack\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        let fams = vec!["IPv6".to_string(), "IPv4".to_string()];
        assert_eq!(
            string_slice("core.IPFamily", Some(&fams)),
            "[]core.IPFamily{\"IPv6\", \"IPv4\"}"
        );
        assert_eq!(string_slice("string", None), "[]string(nil)");
        assert_eq!(string_slice("string", Some(&[])), "[]string{}");
    }
}
