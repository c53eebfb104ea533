//! Probes from the client outside the cluster (`netconform::outside`: on kind, an agnhost container on the
//! nodes' docker network): the same bounded busybox `wget` as the pods' probes ([`probe::request`]), run
//! on that host, classified the same way ([`Reply`]).
//!
//! - [`request`]: ONE bounded request;
//! - [`fetch_until`]: repeated for the dataplane's programming budget ([`REACHABLE`]) until an answer
//!   a check takes;
//! - [`expect_no_answer`]: ONE request that must get no answer within [`NO_ANSWER`], for a path no state of
//!   a conforming cluster answers (the caller first shows the host reaching the same place).

use std::net::IpAddr;
use std::time::Duration;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::outside::Host;
use netconform::wait::Expect;

use super::probe::{ATTEMPT_TIMEOUT_SECS, EXEC_GRACE, NO_ANSWER, Probe, REACHABLE, Reply};

/// The run's host outside the cluster, started if no trial did yet.
pub(crate) async fn host(ctx: &Ctx) -> Result<Host, TrialError> {
    let run = ctx.run();
    let host = run.outside.host(&run.cleanup).await?;
    Ok(host)
}

/// `the client outside the cluster (NAME [ADDRESSES])` for messages.
pub(crate) fn describe(host: &Host) -> String {
    let addresses: Vec<String> = host.addresses.iter().map(IpAddr::to_string).collect();
    format!(
        "the client outside the cluster ({} [{}])",
        host.name,
        addresses.join(", ")
    )
}

/// One `wget -T timeout_secs -qO- URL` on the host outside (no retry).
pub(crate) async fn request(ctx: &Ctx, url: &str, timeout_secs: u64) -> Result<Probe, TrialError> {
    let timeout = timeout_secs.max(1).to_string();
    let command = ["wget", "-T", timeout.as_str(), "-qO-", url];
    let run = ctx.run();
    let limit = Duration::from_secs(timeout_secs) + EXEC_GRACE;
    let output = run.outside.exec(&run.cleanup, &command, limit).await?;
    ctx.log(format!(
        "exec outside the cluster:\n{}",
        output.describe(&command)
    ));
    Ok(Probe {
        command: command.iter().map(|s| s.to_string()).collect(),
        reply: Reply::classify(&output),
        output,
    })
}

/// Requests from the host to `url` until one is answered with a body `accept` takes (`awaited` says
/// which), within the dataplane's programming budget; the body.
pub(crate) async fn fetch_until(
    ctx: &Ctx,
    url: &str,
    awaited: &str,
    accept: impl Fn(&str) -> bool + Send + Sync,
) -> Result<String, TrialError> {
    let answered = Expect::that(
        format!("{awaited} to an HTTP request from outside the cluster to {url}"),
        move |probe: &Probe| matches!(&probe.reply, Reply::Answered(body) if accept(body)),
    )
    .showing(Probe::outcome);
    let probe = ctx
        .eventually(
            REACHABLE,
            || request(ctx, url, ATTEMPT_TIMEOUT_SECS),
            answered,
        )
        .await?;
    Ok(probe.output.stdout)
}

/// ONE request from the host to `url` that must get no answer within [`NO_ANSWER`] (scaled): how it ended;
/// an answer is a mismatch saying `why` nothing should answer.
pub(crate) async fn expect_no_answer(ctx: &Ctx, url: &str, why: &str) -> Result<Probe, TrialError> {
    let secs = NO_ANSWER.scaled(ctx.scale()).as_secs().max(1);
    let probe = request(ctx, url, secs).await?;
    match &probe.reply {
        Reply::Answered(_) | Reply::Failed => Err(TrialError::Mismatch {
            what: format!("an HTTP request from outside the cluster to {url}, which {why}"),
            expected: format!(
                "no answer within {secs}s ({}): dropped, refused or unreachable",
                NO_ANSWER.name
            ),
            observed: probe.outcome(),
        }),
        _ => Ok(probe),
    }
}
