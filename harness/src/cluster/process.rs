//! Running `kind` and `docker` behind a small trait, so unit tests check command lines without running them.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::error::HarnessError;
use crate::text::one_line;

/// A program, its arguments, and variables set in its environment on top of the inherited one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl CommandLine {
    pub fn new(program: &str, args: &[&str]) -> CommandLine {
        CommandLine {
            program: program.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
        }
    }

    /// The same command with `name=value` in its environment.
    pub fn with_env(mut self, name: &str, value: &str) -> CommandLine {
        self.env.push((name.to_string(), value.to_string()));
        self
    }
}

/// The program and its arguments, as a shell would show them (the environment is not shown).
impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// Whether the user sees the command's output as it runs (cluster creation takes minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Collected and returned only.
    Capture,
    /// Also copied, line by line, to our stderr (never our stdout: that is the test runner's).
    Stream,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    pub success: bool,
    /// `exit status 1`, `signal 9`.
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    /// The last few lines of stderr (or stdout), for an error message.
    pub fn tail(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        lines[lines.len().saturating_sub(3)..].join("; ")
    }
}

pub type CommandFuture<'a> =
    Pin<Box<dyn Future<Output = std::io::Result<CommandOutput>> + Send + 'a>>;

pub trait CommandRunner: Send + Sync {
    fn run<'a>(&'a self, command: &'a CommandLine, output: Output) -> CommandFuture<'a>;
    /// The program's path if it is on PATH.
    fn which(&self, program: &str) -> Option<PathBuf>;
}

/// Runs real processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run<'a>(&'a self, command: &'a CommandLine, output: Output) -> CommandFuture<'a> {
        Box::pin(async move {
            let mut child = tokio::process::Command::new(&command.program)
                .args(&command.args)
                .envs(command.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            let stream = output == Output::Stream;
            let stdout = child
                .stdout
                .take()
                .map(|out| tokio::spawn(collect(out, stream)));
            let stderr = child
                .stderr
                .take()
                .map(|err| tokio::spawn(collect(err, stream)));
            let status = child.wait().await?;
            let join = |h: Option<tokio::task::JoinHandle<String>>| async move {
                match h {
                    Some(h) => h.await.unwrap_or_default(),
                    None => String::new(),
                }
            };
            let status_text = match status.code() {
                Some(code) => format!("exit status {code}"),
                None => "killed by a signal".to_string(),
            };
            Ok(CommandOutput {
                success: status.success(),
                status: status_text,
                stdout: join(stdout).await,
                stderr: join(stderr).await,
            })
        })
    }

    fn which(&self, program: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    }
}

async fn collect(reader: impl AsyncRead + Unpin, stream: bool) -> String {
    let mut lines = BufReader::new(reader).lines();
    let mut all = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        if stream {
            eprintln!("{line}");
        }
        all.push_str(&line);
        all.push('\n');
    }
    all
}

#[cfg(unix)]
fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &std::path::Path) -> bool {
    path.is_file() || path.with_extension("exe").is_file()
}

/// Records command lines and answers from a script: for unit tests.
#[derive(Default)]
pub struct ScriptedRunner {
    /// Programs reported as on PATH.
    pub on_path: Vec<String>,
    /// (command line prefix, answer); the first matching prefix answers. Unmatched commands succeed silently.
    pub answers: Vec<(String, CommandOutput)>,
    pub calls: Mutex<Vec<(String, Output)>>,
    /// The environment each call was given ([`CommandLine::env`]), in call order.
    pub envs: Mutex<Vec<Vec<(String, String)>>>,
}

impl ScriptedRunner {
    pub fn new(on_path: &[&str]) -> ScriptedRunner {
        ScriptedRunner {
            on_path: on_path.iter().map(|p| p.to_string()).collect(),
            ..ScriptedRunner::default()
        }
    }
    pub fn answer(
        mut self,
        prefix: &str,
        success: bool,
        stdout: &str,
        stderr: &str,
    ) -> ScriptedRunner {
        let status = if success {
            "exit status 0"
        } else {
            "exit status 1"
        };
        let out = CommandOutput {
            success,
            status: status.to_string(),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        };
        self.answers.push((prefix.to_string(), out));
        self
    }
    pub fn calls(&self) -> Vec<String> {
        self.calls
            .lock()
            .map(|c| c.iter().map(|(line, _)| line.clone()).collect())
            .unwrap_or_default()
    }
    /// The environment given to the first call that starts with `prefix`.
    pub fn env_of(&self, prefix: &str) -> Option<Vec<(String, String)>> {
        let calls = self.calls.lock().ok()?;
        let envs = self.envs.lock().ok()?;
        let i = calls
            .iter()
            .position(|(line, _)| line.starts_with(prefix))?;
        envs.get(i).cloned()
    }
    pub fn streamed(&self) -> Vec<String> {
        self.calls
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|(_, o)| *o == Output::Stream)
                    .map(|(line, _)| line.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn into_arc(self) -> Arc<ScriptedRunner> {
        Arc::new(self)
    }
}

impl CommandRunner for ScriptedRunner {
    fn run<'a>(&'a self, command: &'a CommandLine, output: Output) -> CommandFuture<'a> {
        let line = command.to_string();
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((line.clone(), output));
        }
        if let Ok(mut envs) = self.envs.lock() {
            envs.push(command.env.clone());
        }
        let answer = self
            .answers
            .iter()
            .find(|(prefix, _)| line.starts_with(prefix.as_str()))
            .map(|(_, out)| out.clone());
        Box::pin(async move {
            Ok(answer.unwrap_or(CommandOutput {
                success: true,
                status: "exit status 0".into(),
                ..CommandOutput::default()
            }))
        })
    }
    fn which(&self, program: &str) -> Option<PathBuf> {
        self.on_path
            .iter()
            .any(|p| p == program)
            .then(|| PathBuf::from(format!("/usr/bin/{program}")))
    }
}

/// Runs `command`: its stdout, or an error naming the command with the failure as one line.
pub(crate) async fn run_ok(
    runner: &dyn CommandRunner,
    command: &CommandLine,
    output: Output,
) -> Result<String, HarnessError> {
    let failed = |status: String, detail: String| HarnessError::CommandFailed {
        command: command.to_string(),
        status,
        detail,
    };
    let out = runner
        .run(command, output)
        .await
        .map_err(|e| failed("did not start".into(), e.to_string()))?;
    if out.success {
        Ok(out.stdout)
    } else {
        Err(failed(out.status.clone(), one_line(&out.tail())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn system_runner_captures_and_reports_status() {
        let runner = SystemRunner;
        let ok = runner
            .run(
                &CommandLine::new("sh", &["-c", "echo out; echo err >&2"]),
                Output::Capture,
            )
            .await
            .unwrap();
        assert!(ok.success);
        assert_eq!((ok.stdout.as_str(), ok.stderr.as_str()), ("out\n", "err\n"));
        let bad = runner
            .run(
                &CommandLine::new("sh", &["-c", "echo a >&2; echo b >&2; exit 3"]),
                Output::Stream,
            )
            .await
            .unwrap();
        assert!(!bad.success);
        assert_eq!(bad.status, "exit status 3");
        assert_eq!(bad.tail(), "a; b");
        assert!(
            runner
                .run(
                    &CommandLine::new("netconform-no-such-program", &[]),
                    Output::Capture
                )
                .await
                .is_err()
        );
        assert!(runner.which("sh").is_some());
        assert!(runner.which("netconform-no-such-program").is_none());
    }

    #[test]
    fn command_lines_display_like_a_shell() {
        assert_eq!(
            CommandLine::new("kind", &["get", "clusters"]).to_string(),
            "kind get clusters"
        );
    }
}
