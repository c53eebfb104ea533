//! Running busybox `nslookup` in a pod and reading what it printed.
//!
//! The answer is read from the text only (busybox 1.28 prints `Address N: ip name`, 1.36 `Name:`/`Address:`
//! pairs; both parsed by `netconform::parse::nslookup`). The exit status is logged, never trusted: 1.36
//! exits 1 when any of its A/AAAA queries fails, even when the other one answered.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::parse::nslookup::{NslookupOutput, Srv};
use netconform::wait::{Budget, Expect, Pace, Paced};

/// How long a new record may take to be served. CoreDNS answers from its own informer cache, which
/// follows the API with a watch's delay, and a DNS server offers nothing to watch: lookups are repeated,
/// a second apart (CoreDNS's negative answers carry a 5 s TTL; its cache keeps them).
pub(crate) const DNS_PROPAGATION: Paced = Paced::new(
    Budget::new("dns-propagation", 30),
    Pace::Every(Duration::from_secs(1)),
);

/// One `nslookup` run.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    pub command: String,
    pub exit_code: i32,
    /// stdout then stderr (1.28 prints its errors on stderr).
    pub text: String,
    /// `None` when the text is not nslookup output (e.g. the runtime could not start it).
    pub parsed: Option<NslookupOutput>,
}

impl Lookup {
    /// An address was printed as an answer: the only evidence of success.
    pub fn resolved(&self) -> bool {
        self.parsed.as_ref().is_some_and(NslookupOutput::resolved)
    }

    pub fn addresses(&self) -> BTreeSet<IpAddr> {
        self.parsed
            .as_ref()
            .map(|p| p.addresses().into_iter().collect())
            .unwrap_or_default()
    }

    pub fn srv_records(&self) -> Vec<Srv> {
        self.parsed
            .as_ref()
            .map(NslookupOutput::srv_records)
            .unwrap_or_default()
    }

    /// The transcript, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "$ {} (exit status {})\n{}",
            self.command,
            self.exit_code,
            self.text.trim_end()
        )
    }
}

/// Runs `nslookup ARGS...` in a container.
pub(crate) async fn nslookup(
    ctx: &Ctx,
    pod: &str,
    container: &str,
    args: &[&str],
) -> Result<Lookup, TrialError> {
    let command: Vec<&str> = std::iter::once("nslookup")
        .chain(args.iter().copied())
        .collect();
    let out = ctx.exec(pod, container, &command).await?;
    let text = format!("{}{}", out.stdout, out.stderr);
    Ok(Lookup {
        command: command.join(" "),
        exit_code: out.exit_code,
        parsed: NslookupOutput::parse(&text).ok(),
        text,
    })
}

/// Repeats `nslookup ARGS...` until `done` holds ([`DNS_PROPAGATION`]); returns that run. Running out is
/// a timeout waiting for `awaited`, showing the last run.
pub(crate) async fn nslookup_until(
    ctx: &Ctx,
    pod: &str,
    container: &str,
    args: &[&str],
    awaited: String,
    done: impl Fn(&Lookup) -> bool + Send + Sync,
) -> Result<Lookup, TrialError> {
    let expect = Expect::that(awaited, done).showing(|lookup: &Lookup| {
        format!(
            "answers {}\n{}",
            show(&lookup.addresses()),
            lookup.describe()
        )
    });
    ctx.eventually(
        DNS_PROPAGATION,
        || nslookup(ctx, pod, container, args),
        expect,
    )
    .await
}

/// Repeats a lookup until it answers exactly `expected` (`what` names the lookup; `doc`, when given, is the
/// docs' text that says so).
pub(crate) async fn expect_addresses(
    ctx: &Ctx,
    pod: &str,
    container: &str,
    args: &[&str],
    what: &str,
    expected: &BTreeSet<IpAddr>,
    doc: &str,
) -> Result<Lookup, TrialError> {
    let mut awaited = format!("{what} to answer {}", show(expected));
    if !doc.is_empty() {
        awaited.push_str(&format!("\n\n{doc}"));
    }
    nslookup_until(ctx, pod, container, args, awaited, |l| {
        l.addresses() == *expected
    })
    .await
}

/// `{a, b}` as `a, b` (or `nothing`).
pub(crate) fn show(ips: &BTreeSet<IpAddr>) -> String {
    if ips.is_empty() {
        return "nothing".to_string();
    }
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
