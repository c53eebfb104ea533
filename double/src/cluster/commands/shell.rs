//! `sh -c SCRIPT` as the suites' scripts use it: words and `$VARIABLES`, `;`, `&&`, `||` and `|`, and
//! `set` listing the variables (busybox ash quotes every value).

use super::{Block, Container, Mode, Outcome, busybox, run_argv};

// ---- a small POSIX-sh subset: quoting, $VAR, pipes, ;, &&, || ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Op(&'static str),
}

fn lookup(c: &dyn Container, name: &str, last_status: i32) -> String {
    if name == "?" {
        return last_status.to_string();
    }
    c.env()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Reads `$NAME`, `${NAME}` or `$?` after a `$`; returns the value and the characters consumed.
fn read_var(chars: &[char], i: usize, c: &dyn Container, status: i32) -> (String, usize) {
    match chars.get(i) {
        Some('{') => {
            let end = chars[i..].iter().position(|&ch| ch == '}').map(|p| i + p);
            match end {
                Some(end) => {
                    let name: String = chars[i + 1..end].iter().collect();
                    (lookup(c, &name, status), end + 1 - i)
                }
                None => ("${".to_string(), 1),
            }
        }
        Some('?') => (status.to_string(), 1),
        Some(ch) if ch.is_ascii_alphabetic() || *ch == '_' => {
            let len = chars[i..]
                .iter()
                .take_while(|ch| ch.is_ascii_alphanumeric() || **ch == '_')
                .count();
            let name: String = chars[i..i + len].iter().collect();
            (lookup(c, &name, status), len)
        }
        _ => ("$".to_string(), 0),
    }
}

fn tokenize(script: &str, c: &dyn Container, status: i32) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = script.chars().collect();
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    let flush = |tokens: &mut Vec<Token>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            tokens.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while i < chars.len() {
        let ch = chars[i];
        match ch {
            ' ' | '\t' => {
                flush(&mut tokens, &mut word, &mut in_word);
                i += 1;
            }
            '\n' | ';' => {
                flush(&mut tokens, &mut word, &mut in_word);
                tokens.push(Token::Op(";"));
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '&' | '|' => {
                flush(&mut tokens, &mut word, &mut in_word);
                let double = chars.get(i + 1) == Some(&ch);
                tokens.push(Token::Op(match (ch, double) {
                    ('&', true) => "&&",
                    ('&', false) => "&",
                    ('|', true) => "||",
                    _ => "|",
                }));
                i += if double { 2 } else { 1 };
            }
            '\'' => {
                in_word = true;
                let end = chars[i + 1..]
                    .iter()
                    .position(|&q| q == '\'')
                    .ok_or("unterminated quoted string")?;
                word.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('$') => {
                            let (value, used) = read_var(&chars, i + 1, c, status);
                            word.push_str(&value);
                            i += 1 + used;
                        }
                        Some(&other) => {
                            word.push(other);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(&next) = chars.get(i + 1)
                    && next != '\n'
                {
                    word.push(next);
                }
                i += 2;
            }
            '$' => {
                in_word = true;
                let (value, used) = read_var(&chars, i + 1, c, status);
                word.push_str(&value);
                i += 1 + used;
            }
            other => {
                in_word = true;
                word.push(other);
                i += 1;
            }
        }
    }
    flush(&mut tokens, &mut word, &mut in_word);
    Ok(tokens)
}

/// Runs `sh -c SCRIPT`.
pub fn run_script(c: &dyn Container, script: &str) -> Outcome {
    let mut total = Outcome::default();
    // The whole script is expanded up front: `$?` reads 0 (a known simplification).
    let tokens = match tokenize(script, c, 0) {
        Ok(t) => t,
        Err(e) => {
            let msg = if busybox(c).is_some() {
                format!("sh: syntax error: {e}\n")
            } else {
                format!("sh: 1: Syntax error: {e}\n")
            };
            return Outcome::fail(2, msg);
        }
    };
    // Split into (connector-before, pipeline) items.
    let mut items: Vec<(&'static str, Vec<Vec<String>>)> = Vec::new();
    let mut connector: &'static str = ";";
    let mut pipeline: Vec<Vec<String>> = vec![vec![]];
    for t in tokens {
        match t {
            Token::Word(w) => {
                if let Some(last) = pipeline.last_mut() {
                    last.push(w);
                }
            }
            Token::Op("|") => pipeline.push(vec![]),
            Token::Op(op) => {
                if pipeline.iter().any(|cmd| !cmd.is_empty()) {
                    items.push((connector, std::mem::replace(&mut pipeline, vec![vec![]])));
                }
                connector = if op == "&" { ";" } else { op };
            }
        }
    }
    if pipeline.iter().any(|cmd| !cmd.is_empty()) {
        items.push((connector, pipeline));
    }
    let mut status = 0;
    for (conn, pipeline) in items {
        let run = match conn {
            "&&" => status == 0,
            "||" => status != 0,
            _ => true,
        };
        if !run {
            continue;
        }
        let mut input = String::new();
        let mut last = Outcome::default();
        for cmd in pipeline.iter().filter(|cmd| !cmd.is_empty()) {
            if cmd[0] == "exit" {
                let code = cmd.get(1).and_then(|s| s.parse().ok()).unwrap_or(status);
                total.exit_code = code;
                return total;
            }
            last = if cmd[0] == "set" && cmd.len() == 1 {
                shell_set(c)
            } else if cmd[0] == ":" {
                Outcome::default()
            } else {
                run_argv(c, cmd, &input, Mode::Shell)
            };
            total.stderr.push_str(&last.stderr);
            input = std::mem::take(&mut last.stdout);
            if last.blocks.is_some() {
                break;
            }
        }
        total.stdout.push_str(&input);
        status = last.exit_code;
        if last.blocks.is_some() {
            total.blocks = last.blocks;
            total.exit_code = 0;
            return total;
        }
    }
    if script.contains("while true") || script.contains("while :") {
        total.blocks = Some(Block::Forever);
    }
    total.exit_code = status;
    total
}

/// The shell builtin `set` without arguments: every variable, sorted, values single-quoted (ash/dash).
fn shell_set(c: &dyn Container) -> Outcome {
    let mut vars: Vec<(String, String)> = c.env().to_vec();
    for (k, v) in [
        ("IFS", " \t\n"),
        ("OPTIND", "1"),
        ("PPID", "0"),
        ("PS1", "\\w \\$ "),
        ("PS2", "> "),
        ("PS4", "+ "),
        ("PWD", "/"),
    ] {
        if !vars.iter().any(|(n, _)| n == k) {
            vars.push((k.to_string(), v.to_string()));
        }
    }
    vars.sort();
    let quote = |v: &str| format!("'{}'", v.replace('\'', "'\"'\"'"));
    Outcome::ok(
        vars.iter()
            .map(|(k, v)| format!("{k}={}\n", quote(v)))
            .collect::<String>(),
    )
}
