//! The container command model: what the suites' commands print inside a pod's container.
//!
//! Busybox images behave like busybox (applet set, ash messages such as `sh: X: not found`,
//! `cat: can't open 'X': No such file or directory`, `set` quoting every value); other images like a
//! Debian userland (dash/coreutils messages). Commands that do not end (`sleep`, `tail -f`, servers)
//! *block*: started as a container's main process they keep it Running; run through exec they return
//! at once (the model does not wait).

mod shell;
mod wget;

use std::time::Duration;

use serde_json::Value;

use crate::model::dns;
use crate::model::nslookup::{self, BusyboxVersion, NslookupEnv};
use crate::model::resolv::parse_resolv_conf;

pub use shell::run_script;

/// How a command run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Still running after this long (then it exits 0).
    For(Duration),
    /// Runs until stopped (servers, `sleep infinity`, `tail -f`).
    Forever,
}

/// The result of running a command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
    /// `Some` when the command did not finish (it keeps running).
    pub blocks: Option<Block>,
}

impl Outcome {
    fn ok(stdout: impl Into<String>) -> Outcome {
        Outcome {
            stdout: stdout.into(),
            ..Outcome::default()
        }
    }

    fn fail(code: i32, stderr: impl Into<String>) -> Outcome {
        Outcome {
            stderr: stderr.into(),
            exit_code: code,
            ..Outcome::default()
        }
    }
}

/// A file as a container reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileView {
    Content(String),
    Directory,
    Missing,
}

/// How an HTTP GET sent from a container ends (the network model's answer, double/src/cluster/network.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpReply {
    /// The server answered: status code, reason phrase, body.
    Response {
        status: u16,
        reason: String,
        body: String,
    },
    /// `connect()` failed at once with this errno text (`Connection refused`, `Network is unreachable`).
    ConnectError(String),
    /// Nothing answered: the packets were dropped.
    TimedOut,
}

/// What a command can see of its container; implemented by the cluster model.
pub trait Container {
    fn image(&self) -> &str;
    fn env(&self) -> &[(String, String)];
    fn hostname(&self) -> String;
    fn read_file(&self, path: &str) -> FileView;
    /// The cluster DNS as seen from this pod's network.
    fn resolver(&self) -> &dyn dns::Resolver;
    /// Creates or replaces a file in the container's own filesystem; false when it cannot be written.
    fn write_file(&self, _path: &str, _content: &str) -> bool {
        false
    }
    /// Removes a file written into the container; false when there was none.
    fn remove_file(&self, _path: &str) -> bool {
        false
    }
    /// An HTTP GET to `dest:port` from this pod's network namespace; without a network model nothing answers.
    fn http_get(&self, _dest: std::net::IpAddr, _port: u16, _path: &str) -> HttpReply {
        HttpReply::TimedOut
    }
}

fn busybox(c: &dyn Container) -> Option<BusyboxVersion> {
    nslookup::busybox_version(c.image())
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `registry.k8s.io/e2e-test-images/agnhost:<tag>`.
fn is_agnhost_image(image: &str) -> bool {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = repo
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map(|(r, _)| r)
        .unwrap_or(repo);
    basename(repo) == "agnhost"
}

/// Image names whose default process is a long-running server.
fn is_server_image(image: &str) -> bool {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = repo
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map(|(r, _)| r)
        .unwrap_or(repo);
    let base = basename(repo);
    !matches!(base, "busybox" | "alpine" | "ubuntu" | "debian")
}

/// The process a container starts: `command` + `args`, or the image's default.
pub fn entrypoint(container: &Value) -> Vec<String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let command = strings(&container["command"]);
    let args = strings(&container["args"]);
    if !command.is_empty() {
        return [command, args].concat();
    }
    // Image config: busybox has no ENTRYPOINT and CMD ["sh"] (args replace CMD); agnhost has
    // ENTRYPOINT ["/agnhost"] (args follow it). upstream: pkg/kubelet/kuberuntime/helpers.go / CRI semantics.
    let image = container["image"].as_str().unwrap_or_default();
    match nslookup::busybox_version(image) {
        Some(_) if args.is_empty() => vec!["sh".into()],
        Some(_) => args,
        None if basename(image.split(':').next().unwrap_or(image)) == "agnhost" => {
            [vec!["/agnhost".into()], args].concat()
        }
        None => args,
    }
}

/// Starts a container's main process.
pub fn start(c: &dyn Container, argv: &[String]) -> Outcome {
    if argv.is_empty() {
        // The image's own entrypoint (nginx, coredns, pause, ...): a server.
        return Outcome {
            blocks: Some(Block::Forever),
            ..Outcome::default()
        };
    }
    run_argv(c, argv, "", Mode::Process)
}

/// Runs an exec request's argv.
pub fn exec(c: &dyn Container, argv: &[String]) -> Outcome {
    let mut out = run_argv(c, argv, "", Mode::Exec);
    out.blocks = None;
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A container's main process or an exec'd binary (no shell around it).
    Process,
    Exec,
    /// A command inside `sh -c`.
    Shell,
}

fn not_found(c: &dyn Container, program: &str, mode: Mode) -> Outcome {
    match mode {
        Mode::Shell if busybox(c).is_some() => {
            Outcome::fail(127, format!("sh: {program}: not found\n"))
        }
        Mode::Shell => Outcome::fail(127, format!("sh: 1: {program}: not found\n")),
        // What runc reports for a missing executable (same text as the server's default runtime).
        _ => Outcome::fail(
            127,
            format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{program}\": executable file not found in $PATH: unknown\n"
            ),
        ),
    }
}

fn run_argv(c: &dyn Container, argv: &[String], stdin: &str, mode: Mode) -> Outcome {
    let Some(program) = argv.first() else {
        return Outcome::default();
    };
    let name = basename(program);
    let args = &argv[1..];
    let bb = busybox(c);
    match name {
        "sh" | "ash" | "bash" | "dash" => {
            if name == "bash" && bb.is_some() {
                return not_found(c, program, mode);
            }
            match args.iter().position(|a| a == "-c") {
                Some(i) => match args.get(i + 1) {
                    Some(script) => run_script(c, script),
                    None => Outcome::fail(2, format!("{name}: -c requires an argument\n")),
                },
                // An interactive shell without a terminal reads an empty stdin and exits.
                None => Outcome::default(),
            }
        }
        "cat" => cat(c, args, stdin),
        "echo" => echo(args),
        "env" | "printenv" => printenv(c, name, args),
        "hostname" => Outcome::ok(format!("{}\n", c.hostname())),
        "touch" => touch(c, args),
        "rm" => rm(c, args),
        "true" => Outcome::default(),
        "false" => Outcome {
            exit_code: 1,
            ..Outcome::default()
        },
        "sleep" => sleep(args),
        "tail" if args.iter().any(|a| a == "-f" || a == "-F") => Outcome {
            blocks: Some(Block::Forever),
            ..Outcome::default()
        },
        "grep" => grep(c, args, stdin),
        "nslookup" => match bb {
            Some(version) => nslookup(c, version, args),
            None => not_found(c, program, mode),
        },
        "agnhost" => agnhost(c, args),
        // busybox's applet; the agnhost image is Alpine-based and has it too.
        "wget" if bb.is_some() || is_agnhost_image(c.image()) => wget::wget(c, args),
        "nginx" | "pause" | "coredns" | "httpd" | "docker-entrypoint.sh" => Outcome {
            blocks: Some(Block::Forever),
            ..Outcome::default()
        },
        _ if mode == Mode::Process && bb.is_none() && is_server_image(c.image()) => {
            // An image-specific server binary the model does not know: assume it serves.
            Outcome {
                blocks: Some(Block::Forever),
                ..Outcome::default()
            }
        }
        _ => not_found(c, program, mode),
    }
}

fn cat(c: &dyn Container, args: &[String], stdin: &str) -> Outcome {
    let files: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-') || a.as_str() == "-")
        .collect();
    if files.is_empty() {
        return Outcome::ok(stdin);
    }
    let bb = busybox(c).is_some();
    let mut out = Outcome::default();
    for f in files {
        if f == "-" {
            out.stdout.push_str(stdin);
            continue;
        }
        match c.read_file(f) {
            FileView::Content(s) => out.stdout.push_str(&s),
            FileView::Directory if bb => {
                out.stderr.push_str("cat: read error: Is a directory\n");
                out.exit_code = 1;
            }
            FileView::Directory => {
                out.stderr.push_str(&format!("cat: {f}: Is a directory\n"));
                out.exit_code = 1;
            }
            FileView::Missing if bb => {
                out.stderr.push_str(&format!(
                    "cat: can't open '{f}': No such file or directory\n"
                ));
                out.exit_code = 1;
            }
            FileView::Missing => {
                out.stderr
                    .push_str(&format!("cat: {f}: No such file or directory\n"));
                out.exit_code = 1;
            }
        }
    }
    out
}

/// The directory part of `path` (`/` for top-level names).
fn parent(path: &str) -> &str {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((dir, _)) => dir,
    }
}

/// `touch FILE...`: creates missing files (in an existing directory); existing ones only get a new mtime.
fn touch(c: &dyn Container, args: &[String]) -> Outcome {
    let bb = busybox(c).is_some();
    let mut out = Outcome::default();
    for f in args.iter().filter(|a| !a.starts_with('-')) {
        if matches!(c.read_file(f), FileView::Content(_) | FileView::Directory) {
            continue;
        }
        let created = matches!(c.read_file(parent(f)), FileView::Directory) && c.write_file(f, "");
        if !created {
            out.exit_code = 1;
            out.stderr.push_str(&if bb {
                format!("touch: {f}: No such file or directory\n")
            } else {
                format!("touch: cannot touch '{f}': No such file or directory\n")
            });
        }
    }
    out
}

/// `rm [-f] FILE...`: removes files written into the container; `-f` ignores missing ones.
fn rm(c: &dyn Container, args: &[String]) -> Outcome {
    let bb = busybox(c).is_some();
    let force = args.iter().any(|a| a.starts_with('-') && a.contains('f'));
    let mut out = Outcome::default();
    for f in args.iter().filter(|a| !a.starts_with('-')) {
        if c.remove_file(f) {
            continue;
        }
        let reason = match c.read_file(f) {
            FileView::Missing if force => continue,
            FileView::Missing => "No such file or directory",
            FileView::Directory => "Is a directory",
            // Files of the image or mounts the model does not let a container delete.
            FileView::Content(_) => "Operation not permitted",
        };
        out.exit_code = 1;
        out.stderr.push_str(&if bb {
            format!("rm: can't remove '{f}': {reason}\n")
        } else {
            format!("rm: cannot remove '{f}': {reason}\n")
        });
    }
    out
}

fn echo(args: &[String]) -> Outcome {
    let (newline, words) = match args.first().map(String::as_str) {
        Some("-n") => (false, &args[1..]),
        _ => (true, args),
    };
    let mut s = words.join(" ");
    if newline {
        s.push('\n');
    }
    Outcome::ok(s)
}

fn printenv(c: &dyn Container, name: &str, args: &[String]) -> Outcome {
    if args.is_empty() || name == "env" {
        return Outcome::ok(
            c.env()
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect::<String>(),
        );
    }
    let mut out = Outcome::default();
    for a in args {
        match c.env().iter().find(|(k, _)| k == a) {
            Some((_, v)) => out.stdout.push_str(&format!("{v}\n")),
            None => out.exit_code = 1,
        }
    }
    out
}

fn sleep(args: &[String]) -> Outcome {
    let Some(arg) = args.first() else {
        return Outcome::fail(1, "sleep: missing operand\n");
    };
    if arg == "infinity" || arg == "inf" {
        return Outcome {
            blocks: Some(Block::Forever),
            ..Outcome::default()
        };
    }
    let (num, unit) = match arg.strip_suffix(['s', 'm', 'h', 'd']) {
        Some(n) => (n, arg.chars().last().unwrap_or('s')),
        None => (arg.as_str(), 's'),
    };
    let Ok(secs) = num.parse::<f64>() else {
        return Outcome::fail(1, format!("sleep: invalid number '{arg}'\n"));
    };
    let factor = match unit {
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86_400.0,
        _ => 1.0,
    };
    let total = secs * factor;
    if total <= 0.0 {
        return Outcome::default();
    }
    Outcome {
        blocks: Some(Block::For(Duration::from_secs_f64(total.min(1e9)))),
        ..Outcome::default()
    }
}

fn grep(c: &dyn Container, args: &[String], stdin: &str) -> Outcome {
    let (mut invert, mut ignore_case, mut quiet, mut count) = (false, false, false, false);
    let mut rest: Vec<&String> = Vec::new();
    for a in args {
        if a.starts_with('-') && a.len() > 1 && rest.is_empty() {
            for flag in a[1..].chars() {
                match flag {
                    'v' => invert = true,
                    'i' => ignore_case = true,
                    'q' => quiet = true,
                    'c' => count = true,
                    _ => {}
                }
            }
        } else {
            rest.push(a);
        }
    }
    let Some(pattern) = rest.first() else {
        return Outcome::fail(2, "Usage: grep [-ivqc] PATTERN [FILE]...\n");
    };
    let input = match rest.get(1) {
        Some(f) => match c.read_file(f) {
            FileView::Content(s) => s,
            _ => return Outcome::fail(2, format!("grep: {f}: No such file or directory\n")),
        },
        None => stdin.to_string(),
    };
    let norm = |s: &str| {
        if ignore_case {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    let pat = norm(pattern);
    let (anchored_start, anchored_end) =
        (pat.starts_with('^'), pat.ends_with('$') && pat.len() > 1);
    let core = pat
        .trim_start_matches('^')
        .trim_end_matches('$')
        .to_string();
    let matches = |line: &str| {
        let l = norm(line);
        let hit = match (anchored_start, anchored_end) {
            (true, true) => l == core,
            (true, false) => l.starts_with(&core),
            (false, true) => l.ends_with(&core),
            (false, false) => l.contains(&core),
        };
        hit != invert
    };
    let selected: Vec<&str> = input.lines().filter(|l| matches(l)).collect();
    let exit_code = if selected.is_empty() { 1 } else { 0 };
    let stdout = if quiet {
        String::new()
    } else if count {
        format!("{}\n", selected.len())
    } else {
        selected.iter().map(|l| format!("{l}\n")).collect()
    };
    Outcome {
        stdout,
        exit_code,
        ..Outcome::default()
    }
}

fn nslookup(c: &dyn Container, version: BusyboxVersion, args: &[String]) -> Outcome {
    let resolv = match c.read_file("/etc/resolv.conf") {
        FileView::Content(s) => parse_resolv_conf(&s),
        _ => Default::default(),
    };
    let hosts = match c.read_file("/etc/hosts") {
        FileView::Content(s) => s,
        _ => String::new(),
    };
    let env = NslookupEnv {
        resolv_conf: &resolv,
        etc_hosts: &hosts,
        resolver: c.resolver(),
    };
    let out = nslookup::nslookup(version, args, &env);
    Outcome {
        stdout: out.stdout,
        stderr: out.stderr,
        exit_code: out.exit_code,
        blocks: None,
    }
}

/// agnhost (test/images/agnhost): servers block; a few print-and-exit subcommands are modelled.
fn agnhost(c: &dyn Container, args: &[String]) -> Outcome {
    match args.first().map(String::as_str) {
        Some("etc-hosts") => match c.read_file("/etc/hosts") {
            FileView::Content(s) => Outcome::ok(s),
            _ => Outcome::fail(1, "open /etc/hosts: no such file or directory\n"),
        },
        Some("dns-suffix") => {
            let resolv = match c.read_file("/etc/resolv.conf") {
                FileView::Content(s) => parse_resolv_conf(&s),
                _ => Default::default(),
            };
            let suffix = resolv
                .searches
                .iter()
                .find_map(|s| s.split_once(".svc.").map(|(_, d)| d.to_string()))
                .unwrap_or_default();
            Outcome::ok(suffix)
        }
        Some("dns-server-list") => {
            let resolv = match c.read_file("/etc/resolv.conf") {
                FileView::Content(s) => parse_resolv_conf(&s),
                _ => Default::default(),
            };
            Outcome::ok(resolv.servers.join(","))
        }
        None => Outcome::ok("Usage:\n  agnhost [command]\n"),
        Some(_) => Outcome {
            blocks: Some(Block::Forever),
            ..Outcome::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::dns::Resolver;

    use crate::model::dns::Nowhere;

    struct Fake {
        image: String,
        env: Vec<(String, String)>,
    }

    impl Container for Fake {
        fn image(&self) -> &str {
            &self.image
        }
        fn env(&self) -> &[(String, String)] {
            &self.env
        }
        fn hostname(&self) -> String {
            "pod01".into()
        }
        fn read_file(&self, path: &str) -> FileView {
            match path {
                "/etc/hosts" => FileView::Content(
                    "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n".into(),
                ),
                "/etc" => FileView::Directory,
                _ => FileView::Missing,
            }
        }
        fn resolver(&self) -> &dyn Resolver {
            &Nowhere
        }
    }

    fn bb() -> Fake {
        Fake {
            image: "busybox:1.28".into(),
            env: vec![
                ("MY_POD_IPS".into(), "10.244.1.4,fd00:10:244:1::4".into()),
                ("HOME".into(), "/root".into()),
            ],
        }
    }

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cat_and_errors() {
        let c = bb();
        assert_eq!(
            exec(&c, &argv(&["cat", "/etc/hosts"])).stdout,
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
        );
        let missing = exec(&c, &argv(&["cat", "/nope"]));
        assert_eq!(
            (missing.exit_code, missing.stderr.as_str()),
            (1, "cat: can't open '/nope': No such file or directory\n")
        );
        let unknown = run_script(&c, "foo bar");
        assert_eq!(
            (unknown.exit_code, unknown.stderr.as_str()),
            (127, "sh: foo: not found\n")
        );
        let debian = Fake {
            image: "nginx".into(),
            env: vec![],
        };
        assert_eq!(run_script(&debian, "foo").stderr, "sh: 1: foo: not found\n");
    }

    #[test]
    fn shell_features() {
        let c = bb();
        let out = exec(
            &c,
            &argv(&[
                "sh",
                "-c",
                "echo \"ips=$MY_POD_IPS\" && env | grep MY_POD_IPS; false || echo 'a b'",
            ]),
        );
        assert_eq!(
            out.stdout,
            "ips=10.244.1.4,fd00:10:244:1::4\nMY_POD_IPS=10.244.1.4,fd00:10:244:1::4\na b\n"
        );
        assert_eq!(out.exit_code, 0);
        let set = exec(&c, &argv(&["sh", "-c", "set | grep MY_POD_IPS"]));
        assert_eq!(set.stdout, "MY_POD_IPS='10.244.1.4,fd00:10:244:1::4'\n");
        assert_eq!(
            exec(&c, &argv(&["printenv", "MY_POD_IPS"])).stdout,
            "10.244.1.4,fd00:10:244:1::4\n"
        );
        assert_eq!(exec(&c, &argv(&["sh", "-c", "exit 3"])).exit_code, 3);
        assert_eq!(exec(&c, &argv(&["hostname"])).stdout, "pod01\n");
        // `set` is a shell builtin: not an executable of the image.
        assert_eq!(exec(&c, &argv(&["set"])).exit_code, 127);
    }

    #[test]
    fn blocking_commands() {
        let c = bb();
        assert_eq!(
            start(&c, &argv(&["sleep", "3600"])).blocks,
            Some(Block::For(Duration::from_secs(3600)))
        );
        assert_eq!(
            start(&c, &argv(&["sleep", "infinity"])).blocks,
            Some(Block::Forever)
        );
        let chain = start(&c, &argv(&["sh", "-c", "cat /etc/hosts; sleep 10"]));
        assert_eq!(chain.blocks, Some(Block::For(Duration::from_secs(10))));
        assert!(chain.stdout.starts_with("# Kubernetes-managed"));
        assert_eq!(start(&c, &argv(&["cat", "/etc/hosts"])).blocks, None);
        assert_eq!(exec(&c, &argv(&["sleep", "5"])).blocks, None);
        let nginx = Fake {
            image: "nginx:1.27".into(),
            env: vec![],
        };
        assert_eq!(start(&nginx, &[]).blocks, Some(Block::Forever));
        assert_eq!(
            entrypoint(&serde_json::json!({"image": "busybox:1.28"})),
            argv(&["sh"])
        );
        assert_eq!(start(&c, &argv(&["sh"])).blocks, None);
    }

    /// A busybox container whose /tmp is writable.
    struct Writable {
        files: std::cell::RefCell<std::collections::BTreeMap<String, String>>,
    }

    impl Container for Writable {
        fn image(&self) -> &str {
            "busybox:1.28"
        }
        fn env(&self) -> &[(String, String)] {
            &[]
        }
        fn hostname(&self) -> String {
            "web".into()
        }
        fn read_file(&self, path: &str) -> FileView {
            match self.files.borrow().get(path) {
                Some(c) => FileView::Content(c.clone()),
                None if path == "/tmp" || path == "/" => FileView::Directory,
                None => FileView::Missing,
            }
        }
        fn resolver(&self) -> &dyn Resolver {
            &Nowhere
        }
        fn write_file(&self, path: &str, content: &str) -> bool {
            self.files.borrow_mut().insert(path.into(), content.into());
            true
        }
        fn remove_file(&self, path: &str) -> bool {
            self.files.borrow_mut().remove(path).is_some()
        }
    }

    #[test]
    fn touch_and_rm_flip_a_readiness_file() {
        let c = Writable {
            files: Default::default(),
        };
        assert_eq!(exec(&c, &argv(&["cat", "/tmp/ready"])).exit_code, 1);
        assert_eq!(exec(&c, &argv(&["touch", "/tmp/ready"])).exit_code, 0);
        assert_eq!(exec(&c, &argv(&["cat", "/tmp/ready"])).exit_code, 0);
        let missing_dir = exec(&c, &argv(&["touch", "/nope/ready"]));
        assert_eq!(
            (missing_dir.exit_code, missing_dir.stderr.as_str()),
            (1, "touch: /nope/ready: No such file or directory\n")
        );
        assert_eq!(
            exec(&c, &argv(&["sh", "-c", "rm /tmp/ready && cat /tmp/ready"])).exit_code,
            1
        );
        let again = exec(&c, &argv(&["rm", "/tmp/ready"]));
        assert_eq!(
            again.stderr,
            "rm: can't remove '/tmp/ready': No such file or directory\n"
        );
        assert_eq!(exec(&c, &argv(&["rm", "-f", "/tmp/ready"])).exit_code, 0);
    }
}
