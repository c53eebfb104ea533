//! `netconform`: the commands around the suite (the suite itself runs under `cargo test --test conformance`).
//!
//!   netconform sweep [--dry-run] [--run-id ID] [--older-than DURATION] [--context NAME]
//!                                            delete leftovers of earlier runs (by label only)
//!   netconform sim --kubeconfig PATH [--deviate NAME]...   serve the offline test double until Ctrl-C
//!   netconform sim --list-deviations         name<TAB>description (which trials each breaks: suites/src, BREAKS)
//!   netconform COMMAND --help                the command's usage; nothing else is done
//!   netconform sim --list-profiles           name<TAB>the conforming variant it models
//!   netconform gate BASELINE.xml CANDIDATE.xml [--force] [--markdown OUT.md]
//!                                            compare two runs' JUnit reports: exit 0 no regression, 1 regressed,
//!                                            2 bad input (see report/gate/)
//!   netconform claims REPORT.xml... [--index PATH] [--markdown OUT.md]
//!                                            the doc-claims matrix of one or more runs, with each trial's seed
//!                                            claims from the claims index (suites/claims.yaml)
//!   netconform claims --coverage [--index PATH] [--markdown OUT.md]
//!                                            the claims index's coverage of the seeds (docs/claims.md)

use std::process::ExitCode;

use netconform::cluster::{self, Resolution};
use netconform::config::{Settings, TargetChoice};
use netconform::report::{claims, gate};

const SIM_USAGE: &str = "netconform sim --kubeconfig PATH [--deviate NAME]... | netconform sim --list-deviations | netconform sim --list-profiles";

const FIDELITY_USAGE: &str = "netconform fidelity REAL.json DOUBLE.json";

/// The usage of each command, for `COMMAND --help` and errors.
const COMMANDS: &[(&str, &str)] = &[
    ("sweep", netconform::sweep::USAGE),
    ("sim", SIM_USAGE),
    ("gate", gate::USAGE),
    ("claims", claims::USAGE),
    ("fidelity", FIDELITY_USAGE),
];
/// Exit status for a command line that does not parse.
const EXIT_USAGE: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = usage();
    let command = args.first().map(String::as_str);
    // `COMMAND --help` only prints: it must never run the command (a sweep deletes).
    if let Some((_, command_usage)) = COMMANDS.iter().find(|(c, _)| Some(*c) == command)
        && args[1..].iter().any(|a| a == "--help" || a == "-h")
    {
        println!("usage: {command_usage}");
        return ExitCode::SUCCESS;
    }
    let result = match command {
        Some("sweep") => sweep(&args[1..]).await,
        Some("sim") => sim(&args[1..]).await,
        Some("gate") => gate(&args[1..]),
        Some("claims") => claims(&args[1..]),
        Some("fidelity") => fidelity(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{usage}");
            Ok(())
        }
        _ => Err((usage, EXIT_USAGE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((line, code)) => {
            eprintln!("netconform: {line}");
            ExitCode::from(code)
        }
    }
}

type CommandResult = Result<(), (String, u8)>;

fn usage() -> String {
    let lines: Vec<&str> = COMMANDS.iter().map(|(_, u)| *u).collect();
    format!("usage: {}", lines.join(" | "))
}

fn fail(e: netconform::error::HarnessError) -> (String, u8) {
    (e.to_string(), u8::try_from(e.exit_code()).unwrap_or(1))
}

/// Deletes what earlier runs left on the current kubeconfig context, by the netconform label only.
async fn sweep(args: &[String]) -> CommandResult {
    // Parsed before anything touches a cluster: a bad argument deletes nothing.
    let args = netconform::sweep::SweepArgs::parse(args).map_err(|line| (line, EXIT_USAGE))?;
    let mut settings = Settings::from_env()
        .map_err(|e| (e.to_string(), u8::try_from(e.exit_code()).unwrap_or(1)))?;
    // Sweeping never creates a cluster: only the configured context.
    settings.target = TargetChoice::Existing;
    if args.context.is_some() {
        settings.context = args.context.clone();
    }
    // Sweeping never creates a cluster, so there is nothing to delete after it.
    let target = match cluster::resolve(&settings, Default::default())
        .await
        .map_err(fail)?
    {
        Resolution::Ready(target) => target,
        Resolution::NoTarget { reason, .. } => {
            return Err((format!("nothing to sweep: {reason}"), 5));
        }
    };
    let report = netconform::sweep::sweep_target(&target.client, &args.options, &target)
        .await
        .map_err(fail)?;
    if report.deleted.is_empty() {
        println!("nothing to sweep on {}", target.description);
    }
    let verb = if args.options.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for line in &report.deleted {
        println!("{verb} {line}");
    }
    for line in &report.kept {
        println!("kept {line}");
    }
    target.teardown().await;
    Ok(())
}

/// Compares two reports; prints the Markdown summary. Exits 0, 1 (a regression) or 2 (bad input).
fn gate(args: &[String]) -> CommandResult {
    let args = gate::GateArgs::parse(args).map_err(|line| (line, EXIT_USAGE))?;
    let run = gate::run(&args).map_err(|e| (e.to_string(), e.exit_code()))?;
    print_markdown(&run.markdown);
    if run.exit_code == gate::EXIT_PASSED {
        return Ok(());
    }
    let failing: usize = run
        .comparison
        .entries
        .iter()
        .filter(|e| e.class.fails_gate())
        .count();
    Err((
        format!(
            "gate failed: {failing} trial(s) regressed or no longer run in {}",
            args.candidate.display()
        ),
        run.exit_code,
    ))
}

/// Prints the doc-claims matrix of one or more reports.
fn claims(args: &[String]) -> CommandResult {
    let args = claims::ClaimsArgs::parse(args).map_err(|line| (line, EXIT_USAGE))?;
    let markdown = claims::run(&args).map_err(|e| (e.to_string(), e.exit_code()))?;
    print_markdown(&markdown);
    Ok(())
}

/// `fidelity REAL.json DOUBLE.json`: the real cluster's and the double's verdicts and observations, trial by
/// trial, as Markdown on stdout (netconform::report::fidelity). Exit 0 whatever they show, 2 on bad input.
fn fidelity(args: &[String]) -> CommandResult {
    let [real, double] = args else {
        return Err((
            "usage: netconform fidelity REAL.json DOUBLE.json".into(),
            EXIT_USAGE,
        ));
    };
    let read = |path: &String| {
        netconform::report::summary::read_summary(std::path::Path::new(path))
            .map_err(|e| (e.to_string(), EXIT_USAGE))
    };
    let (table, disagreements) = netconform::report::fidelity::table(&read(real)?, &read(double)?);
    print_markdown(&table);
    eprintln!("netconform: {disagreements} trials where the real cluster and the double disagree");
    Ok(())
}

/// Stdout closed early (`| head`) is the reader's choice, not an error: no panic, the exit status stands.
fn print_markdown(markdown: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(markdown.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Serves the test double until interrupted, with a kubeconfig for kubectl and the suite. Only a build with
/// the `double` feature has it; without, `sim` fails closed with how to get it.
#[cfg(not(feature = "double"))]
async fn sim(_args: &[String]) -> CommandResult {
    Err(fail(netconform::error::HarnessError::NoDouble(
        "netconform sim".into(),
    )))
}

/// Serves the test double until interrupted, with a kubeconfig for kubectl and the suite.
#[cfg(feature = "double")]
async fn sim(args: &[String]) -> CommandResult {
    use netconform_deviation::Deviation;
    use netconform_double::{Double, profile};
    use std::path::PathBuf;

    let mut kubeconfig: Option<PathBuf> = None;
    let mut deviations = Vec::new();
    let mut list = false;
    let mut list_profiles = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--kubeconfig" => kubeconfig = rest.next().map(PathBuf::from),
            "--deviate" => deviations.push(rest.next().cloned().ok_or((
                format!("--deviate needs a name; usage: {SIM_USAGE}"),
                EXIT_USAGE,
            ))?),
            "--list-deviations" => list = true,
            "--list-profiles" => list_profiles = true,
            other => {
                return Err((
                    format!("unknown argument {other:?}; usage: {SIM_USAGE}"),
                    EXIT_USAGE,
                ));
            }
        }
    }
    if list {
        for d in Deviation::ALL {
            println!("{}\t{}", d.name(), d.description());
        }
        return Ok(());
    }
    if list_profiles {
        for p in profile::PROFILES {
            println!("{}\t{}", p.name, p.description);
        }
        return Ok(());
    }
    let path = kubeconfig.ok_or((
        format!("sim needs --kubeconfig PATH; usage: {SIM_USAGE}"),
        EXIT_USAGE,
    ))?;
    let mut settings = Settings::from_env()
        .map_err(|e| (e.to_string(), u8::try_from(e.exit_code()).unwrap_or(1)))?;
    settings.sim_deviations.extend(deviations);
    let double = Double::start(cluster::sim::double_config(&settings))
        .await
        .map_err(|e| (e.to_string(), 1))?;
    double
        .write_kubeconfig(&path)
        .map_err(|e| (e.to_string(), 1))?;
    eprintln!(
        "netconform: serving the netconform-double TEST DOUBLE (simulated, not a cluster) on {}; kubeconfig {}; Ctrl-C to stop",
        double.addr(),
        path.display()
    );
    let _ = tokio::signal::ctrl_c().await;
    double.shutdown().await;
    Ok(())
}
