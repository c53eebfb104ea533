//! Text flatteners: a message of many lines as the one line an error, a report or a table cell shows, and
//! any text as a part of a name.

/// Collapses a possibly multi-line message (YAML parser snippets, command output) into one line.
/// Source snippets (` --> <input>:1:10` and the `|`-ruled lines after it) are dropped: the location is in the text.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("-->"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The first non-empty line, trimmed.
pub(crate) fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Lowercase letters and digits with single '-' between runs of anything else, at most 16 characters: kind
/// names its node containers `<cluster>-control-plane`, and a container's hostname is at most 63 characters.
pub(crate) fn name_part(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(16);
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_drops_source_snippets() {
        let yaml_error = "failed to parse kubeconfig YAML: error: line 1 column 10: unclosed bracket '['\n --> <input>:1:10\n  |\n1 | garbage: [\n  |          ^ unclosed bracket '['";
        assert_eq!(
            one_line(yaml_error),
            "failed to parse kubeconfig YAML: error: line 1 column 10: unclosed bracket '['"
        );
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\n  b \n\nc"), "a; b; c");
    }
}
