//! Small Markdown helpers for the gate and the doc-claims matrix (GitHub-flavoured: step summaries, PR comments).
//!
//! Claims and messages carry `<TAB>`, `|` and backticks; unescaped, GitHub would drop `<TAB>` as an HTML tag
//! and split a table row at `|`.

/// Text with HTML-significant characters escaped outside its code spans, so `<TAB>` stays visible either
/// way (inside a code span GitHub shows an entity literally, so there it stays as written).
pub fn text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let mut out = String::with_capacity(s.len());
    // Where the code span we are in ends (the index after its closing backticks).
    let mut span_end: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        if span_end == Some(i) {
            span_end = None;
        }
        if chars[i] == '`' && span_end.is_none() {
            let run = run_at(i);
            // CommonMark: a run opens a code span only if a run of the same length closes it.
            let mut j = i + run;
            while j < chars.len() {
                let next = run_at(j);
                if next == run {
                    span_end = Some(j + run);
                    break;
                }
                j += next.max(1);
            }
            out.extend(&chars[i..i + run]);
            i += run;
            continue;
        }
        match (chars[i], span_end) {
            ('&', None) => out.push_str("&amp;"),
            ('<', None) => out.push_str("&lt;"),
            ('>', None) => out.push_str("&gt;"),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    out
}

/// One table cell: [`text`] on one line, with `|` escaped.
pub fn cell(s: &str) -> String {
    let one_line: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    text(&one_line.join(" ")).replace('|', "\\|")
}

/// An inline code span that survives backticks inside `s` (a longer fence, padded).
pub fn code(s: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A fenced code block of `s`, cut to `max_lines` lines (the cut is said).
pub fn block(s: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = s.trim_end().lines().collect();
    let mut body = lines
        .iter()
        .take(max_lines)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > max_lines {
        body.push_str(&format!(
            "\n… {} more line(s) in the JUnit report",
            lines.len() - max_lines
        ));
    }
    let fence = "`".repeat((longest_backtick_run(&body) + 1).max(3));
    format!("{fence}text\n{body}\n{fence}\n")
}

/// A link whose text is escaped; a URL that is not http(s) is shown as text.
pub fn link(label: &str, url: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        format!(
            "[{}]({})",
            text(label).replace(['[', ']'], ""),
            url.replace(' ', "%20")
        )
    } else {
        text(label)
    }
}

/// The part of a docs URL that names the page: `tasks/network/customize-hosts-file-for-pods`.
pub fn doc_page(url: &str) -> &str {
    let path = url
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let path = path.split_once('/').map_or(path, |(_, p)| p);
    let path = path.trim_start_matches("docs/").trim_end_matches('/');
    if path.is_empty() { url } else { path }
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_tags_visible_and_rows_whole() {
        assert_eq!(
            cell("127.0.0.1<TAB>foo | bar\nnext"),
            "127.0.0.1&lt;TAB&gt;foo \\| bar next"
        );
    }

    #[test]
    fn code_spans_in_text_are_left_as_written() {
        assert_eq!(
            cell("a `1<TAB>2` b<c> ``x`<y`` `|`"),
            "a `1<TAB>2` b&lt;c&gt; ``x`<y`` `\\|`"
        );
        assert_eq!(
            text("a ` b<c>"),
            "a ` b&lt;c&gt;",
            "an unclosed backtick is literal"
        );
    }

    #[test]
    fn code_spans_and_blocks_outlast_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("`x`"), "`` `x` ``");
        let b = block("one\n```\nthree\nfour", 3);
        assert!(b.starts_with("````text\n"), "{b}");
        assert!(b.contains("… 1 more line(s)"), "{b}");
        assert!(b.ends_with("\n````\n"), "{b}");
    }

    #[test]
    fn doc_pages_and_links() {
        assert_eq!(
            doc_page("https://kubernetes.io/docs/tasks/network/validate-dual-stack/"),
            "tasks/network/validate-dual-stack"
        );
        assert_eq!(doc_page(""), "");
        assert_eq!(
            link("a<b>", "https://x/y z"),
            "[a&lt;b&gt;](https://x/y%20z)"
        );
        assert_eq!(link("a", "javascript:x"), "a");
    }
}
