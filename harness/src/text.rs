//! Text flatteners: a message of many lines as the one line an error, a report or a table cell shows.

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
