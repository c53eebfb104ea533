//! busybox `wget` (the applet of busybox 1.28+ and of the Alpine-based agnhost image), over the network
//! model: `wget [-q] [-O FILE|-] [-T SEC] [-S] [--spider] http://HOST[:PORT]/PATH`.
//!
//! Messages follow busybox networking/wget.c: `Connecting to HOST (IP:PORT)` (not with `-q`),
//! `can't connect to remote host (IP): <errno text>` (xconnect), `download timed out` (the `-T` alarm),
//! `server returned error: HTTP/1.1 404 Not Found`, `not an http or ftp url: URL`, `bad address 'HOST'`.
//! Approximations: host names are not resolved (only literal addresses), the progress bar is not printed,
//! files given with `-O FILE` are not written.

use std::net::IpAddr;

use super::{Container, HttpReply, Outcome};

/// What the command line asked for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Request {
    quiet: bool,
    /// `-O` target; `None` saves under the URL's file name.
    output: Option<String>,
    timeout: bool,
    spider: bool,
    url: Option<String>,
}

fn parse(args: &[String]) -> Result<Request, String> {
    let mut req = Request::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        match arg.as_str() {
            "--quiet" => req.quiet = true,
            "--spider" => req.spider = true,
            "--output-document" => {
                req.output = Some(
                    args.get(i)
                        .cloned()
                        .ok_or("option requires an argument -- O")?,
                );
                i += 1;
            }
            a if a.starts_with("--") => {}
            a if a.starts_with('-') && a.len() > 1 => {
                // Clustered short options: `-qO-`, `-T5`, `-q -O -`.
                let flags: Vec<char> = a[1..].chars().collect();
                let mut j = 0;
                while j < flags.len() {
                    match flags[j] {
                        'q' => req.quiet = true,
                        'S' | 'c' => {}
                        'O' | 'T' | 'P' | 'U' | 'Y' => {
                            let rest: String = flags[j + 1..].iter().collect();
                            let value = if rest.is_empty() {
                                let v = args.get(i).cloned().ok_or_else(|| {
                                    format!("option requires an argument -- {}", flags[j])
                                })?;
                                i += 1;
                                v
                            } else {
                                rest
                            };
                            match flags[j] {
                                'O' => req.output = Some(value),
                                'T' => req.timeout = true,
                                _ => {}
                            }
                            break;
                        }
                        _ => {}
                    }
                    j += 1;
                }
            }
            _ => req.url = Some(arg.clone()),
        }
    }
    Ok(req)
}

/// `http://HOST[:PORT]/PATH` -> (host, port, path); IPv6 hosts in brackets (busybox parse_url).
fn split_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => 80,
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (authority.to_string(), 80),
        }
    };
    Some((host, port, path))
}

fn fail(stderr: String) -> Outcome {
    Outcome {
        stderr,
        exit_code: 1,
        ..Outcome::default()
    }
}

pub(crate) fn wget(c: &dyn Container, args: &[String]) -> Outcome {
    let req = match parse(args) {
        Ok(r) => r,
        Err(e) => return fail(format!("wget: {e}\n")),
    };
    let Some(url) = req.url.clone() else {
        return fail(
            "BusyBox wget: missing URL\nUsage: wget [-q] [-O FILE] [-T SEC] [--spider] URL...\n"
                .into(),
        );
    };
    let Some((host, port, path)) = split_url(&url) else {
        return fail(format!("wget: not an http or ftp url: {url}\n"));
    };
    let Ok(ip) = host.parse::<IpAddr>() else {
        return fail(format!("wget: bad address '{host}'\n"));
    };
    let ip_port = match ip {
        IpAddr::V4(_) => format!("{ip}:{port}"),
        IpAddr::V6(_) => format!("[{ip}]:{port}"),
    };
    let mut stderr = if req.quiet {
        String::new()
    } else {
        format!("Connecting to {host}:{port} ({ip_port})\n")
    };
    match c.http_get(ip, port, &path) {
        HttpReply::TimedOut if req.timeout => fail(format!("{stderr}wget: download timed out\n")),
        HttpReply::TimedOut => fail(format!(
            "{stderr}wget: can't connect to remote host ({ip}): Connection timed out\n"
        )),
        HttpReply::ConnectError(errno) => fail(format!(
            "{stderr}wget: can't connect to remote host ({ip}): {errno}\n"
        )),
        HttpReply::Response { status, reason, .. } if !(200..300).contains(&status) => fail(
            format!("{stderr}wget: server returned error: HTTP/1.1 {status} {reason}\n"),
        ),
        HttpReply::Response { body, .. } => {
            if req.spider {
                return Outcome {
                    stderr,
                    ..Outcome::default()
                };
            }
            match req.output.as_deref() {
                Some("-") => {
                    if !req.quiet {
                        stderr.push_str("writing to stdout\nwritten to stdout\n");
                    }
                    Outcome {
                        stdout: body,
                        stderr,
                        ..Outcome::default()
                    }
                }
                target => {
                    let file = target.map(str::to_string).unwrap_or_else(|| {
                        let name = path
                            .split('?')
                            .next()
                            .unwrap_or("")
                            .rsplit('/')
                            .next()
                            .unwrap_or("");
                        if name.is_empty() {
                            "index.html".to_string()
                        } else {
                            name.to_string()
                        }
                    });
                    if !req.quiet {
                        stderr.push_str(&format!("saving to '{file}'\n'{file}' saved\n"));
                    }
                    Outcome {
                        stderr,
                        ..Outcome::default()
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::commands::FileView;
    use crate::model::dns::Resolver;

    use crate::model::dns::Nowhere;

    /// Answers `/hostname` on 10.96.0.5:80 and [fd00:10:96::5]:80, refuses port 81, drops the rest.
    struct Client;
    impl Container for Client {
        fn image(&self) -> &str {
            "busybox:1.28"
        }
        fn env(&self) -> &[(String, String)] {
            &[]
        }
        fn hostname(&self) -> String {
            "client".into()
        }
        fn read_file(&self, _: &str) -> FileView {
            FileView::Missing
        }
        fn resolver(&self) -> &dyn Resolver {
            &Nowhere
        }
        fn http_get(&self, dest: IpAddr, port: u16, path: &str) -> HttpReply {
            let known = ["10.96.0.5", "fd00:10:96::5"]
                .iter()
                .any(|ip| ip.parse::<IpAddr>().ok() == Some(dest));
            match (known, port, path) {
                (true, 80, "/hostname") => HttpReply::Response {
                    status: 200,
                    reason: "OK".into(),
                    body: "backend".into(),
                },
                (true, 80, _) => HttpReply::Response {
                    status: 404,
                    reason: "Not Found".into(),
                    body: String::new(),
                },
                (true, _, _) => HttpReply::ConnectError("Connection refused".into()),
                _ => HttpReply::TimedOut,
            }
        }
    }

    fn run(args: &[&str]) -> Outcome {
        wget(
            &Client,
            &args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn quiet_to_stdout_over_both_families() {
        assert_eq!(
            run(&["-qO-", "http://10.96.0.5:80/hostname"]).stdout,
            "backend"
        );
        let v6 = run(&[
            "-T",
            "5",
            "-q",
            "-O",
            "-",
            "http://[fd00:10:96::5]/hostname",
        ]);
        assert_eq!((v6.exit_code, v6.stdout.as_str()), (0, "backend"));
        let loud = run(&["-O-", "http://[fd00:10:96::5]:80/hostname"]);
        assert!(
            loud.stderr
                .starts_with("Connecting to fd00:10:96::5:80 ([fd00:10:96::5]:80)\n"),
            "{}",
            loud.stderr
        );
    }

    #[test]
    fn errors_like_busybox() {
        let refused = run(&["-qO-", "http://10.96.0.5:81/"]);
        assert_eq!(
            (refused.exit_code, refused.stderr.as_str()),
            (
                1,
                "wget: can't connect to remote host (10.96.0.5): Connection refused\n"
            )
        );
        assert_eq!(
            run(&["-T5", "-qO-", "http://10.96.0.99/"]).stderr,
            "wget: download timed out\n"
        );
        assert_eq!(
            run(&["-qO-", "http://10.96.0.99/"]).stderr,
            "wget: can't connect to remote host (10.96.0.99): Connection timed out\n"
        );
        assert_eq!(
            run(&["-qO-", "http://10.96.0.5/nope"]).stderr,
            "wget: server returned error: HTTP/1.1 404 Not Found\n"
        );
        assert_eq!(
            run(&["-qO-", "ftp.example"]).stderr,
            "wget: not an http or ftp url: ftp.example\n"
        );
        assert_eq!(
            run(&["-qO-", "http://my-service/"]).stderr,
            "wget: bad address 'my-service'\n"
        );
        assert_eq!(run(&["-q", "http://10.96.0.5/hostname"]).stdout, "");
    }
}
