//! What the API server refuses in a pod's names and DNS settings: a pod name that is not a DNS subdomain
//! (the Pods page), `dnsConfig` beyond its limits (the DNS page's "Pod's DNS Config"). No pod is started:
//! refused creates store nothing, accepted ones are server-side dry runs (`dryRun=All`).
//!
//! upstream (v1.37): pkg/apis/core/validation/validation.go `ValidatePodName` (= `NameIsDNSSubdomain`),
//! `validatePodDNSConfig` (`MaxDNSNameservers` 3; `MaxDNSSearchPaths` 32 and `MaxDNSSearchListChars` 2048,
//! raised from 6 and 256 by KEP-2595 "Expanded DNS Configuration", GA in v1.28; dnsPolicy None requires
//! `dnsConfig` with at least one nameserver).

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use serde_json::{Value, json};

use crate::deviations::{Breaks, Deviation};
use crate::pods::from_json;
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::retry::retrying;
use netconform::trial::TrialDef;

use super::DNS_PAGE;

const PODS_PAGE: &str = "https://kubernetes.io/docs/concepts/workloads/pods/";

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "dns::validation::pod_name_dns_subdomain",
        claim: "a pod's name must be a valid DNS subdomain: a create named `Busybox_1` is refused (422 Invalid, metadata.name) and one named `busybox.one-1` (a subdomain, not a label) is accepted (seed row [P2])",
        doc_url: PODS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(pod_name_dns_subdomain(ctx)),
    },
    TrialDef {
        name: "dns::validation::dns_config_nameservers",
        claim: "`dnsConfig.nameservers` lists at most 3 addresses, and with dnsPolicy None `dnsConfig` with at least one nameserver is required: 4 nameservers, None without dnsConfig and None with no nameserver are refused, 3 are accepted (seed row [P53])",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(dns_config_nameservers(ctx)),
    },
    TrialDef {
        name: "dns::validation::dns_config_searches",
        claim: "the API server limits `dnsConfig.searches`: the seed's 6 search domains where the cluster refuses a 7th, else a doc finding with the cluster's limit (32 since v1.28: 32 accepted, 33 refused) (seed row [P54])",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(dns_config_searches(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::PodNameUnvalidated,
        &["dns::validation::pod_name_dns_subdomain"],
    ),
    (
        Deviation::PodDnsConfigUnvalidated,
        &[
            "dns::validation::dns_config_nameservers",
            "dns::validation::dns_config_searches",
        ],
    ),
];

/// A busybox pod (never started: the creates here are refused or dry runs) with `spec` merged in.
fn pod(name: &str, spec: Value) -> Result<Pod, TrialError> {
    let mut value = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name },
        "spec": { "containers": [ { "name": "busybox", "image": super::CURRENT_BUSYBOX, "command": ["sleep", "3600"] } ] }
    });
    if let (Some(base), Some(extra)) = (value["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    from_json(value)
}

/// What the API server said to one create.
enum Verdict {
    Accepted,
    /// The status code, reason and message of the refusal.
    Refused(u16, String, String),
}

impl Verdict {
    fn describe(&self) -> String {
        match self {
            Verdict::Accepted => "accepted".to_string(),
            Verdict::Refused(code, reason, message) => {
                format!("refused: {code} {reason}: {message}")
            }
        }
    }

    /// Refused as Invalid (422) with `needle` in the message.
    fn invalid_with(&self, needle: &str) -> bool {
        matches!(self, Verdict::Refused(422, _, m) if m.contains(needle))
    }
}

/// Creates `pod` (`dry_run`: `dryRun=All`) and returns what the API server said; errors other than a
/// refusal of the object (4xx but 409/429) are the harness's.
async fn attempt(ctx: &Ctx, pod: &Pod, dry_run: bool) -> Result<Verdict, TrialError> {
    let api = ctx.api::<Pod>();
    let params = PostParams {
        dry_run,
        ..PostParams::default()
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let result = retrying(|| api.create(&params, pod)).await;
    let verdict = match result {
        Ok(_) => Verdict::Accepted,
        Err(kube::Error::Api(s))
            if (400..500).contains(&s.code) && ![409, 429].contains(&s.code) =>
        {
            Verdict::Refused(s.code, s.reason.clone(), s.message.clone())
        }
        Err(e) => {
            return Err(TrialError::api(format!(
                "creating Pod {name} (dry run: {dry_run})"
            ))(e));
        }
    };
    ctx.log(format!(
        "create Pod {name}{}: {}",
        if dry_run { " (dryRun=All)" } else { "" },
        verdict.describe()
    ));
    Ok(verdict)
}

async fn pod_name_dns_subdomain(ctx: Ctx) -> Result<(), TrialError> {
    let bad = attempt(&ctx, &pod("Busybox_1", json!({}))?, false).await?;
    ensure(
        bad.invalid_with("metadata.name") && bad.invalid_with("RFC 1123 subdomain"),
        "creating a Pod named `Busybox_1` (upper case and an underscore)",
        "refused: 422 Invalid, metadata.name is not a lowercase RFC 1123 subdomain",
        bad.describe(),
    )?;
    let good = attempt(&ctx, &pod("busybox.one-1", json!({}))?, true).await?;
    ensure(
        matches!(good, Verdict::Accepted),
        "creating a Pod named `busybox.one-1` (dry run; a DNS subdomain with a dot, not a DNS label)",
        "accepted",
        good.describe(),
    )
}

fn dns_none(nameservers: &[&str], searches: &[String]) -> Value {
    json!({ "dnsPolicy": "None", "dnsConfig": { "nameservers": nameservers, "searches": searches } })
}

async fn dns_config_nameservers(ctx: Ctx) -> Result<(), TrialError> {
    let cases: [(&str, Value, Option<&str>, &str); 4] = [
        (
            "ns-none-without-config",
            json!({ "dnsPolicy": "None" }),
            Some("spec.dnsConfig"),
            "dnsPolicy None without dnsConfig",
        ),
        (
            "ns-none-no-nameserver",
            dns_none(&[], &["example.internal".to_string()]),
            Some("nameserver"),
            "dnsPolicy None with searches but no nameserver",
        ),
        (
            "ns-four",
            dns_none(&["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"], &[]),
            Some("must not have more than 3 nameservers"),
            "dnsConfig with 4 nameservers",
        ),
        (
            "ns-three",
            dns_none(&["192.0.2.1", "192.0.2.2", "2001:db8::3"], &[]),
            None,
            "dnsConfig with 3 nameservers (dry run)",
        ),
    ];
    for (name, spec, refused_with, what) in cases {
        let verdict = attempt(&ctx, &pod(name, spec)?, refused_with.is_none()).await?;
        match refused_with {
            Some(needle) => ensure(
                verdict.invalid_with(needle),
                &format!("creating Pod {name}: {what}"),
                format!("refused: 422 Invalid naming {needle}"),
                verdict.describe(),
            )?,
            None => ensure(
                matches!(verdict, Verdict::Accepted),
                &format!("creating Pod {name}: {what}"),
                "accepted",
                verdict.describe(),
            )?,
        }
    }
    Ok(())
}

fn searches(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("s{i}.example.internal")).collect()
}

async fn dns_config_searches(ctx: Ctx) -> Result<(), TrialError> {
    let with = |n: usize| {
        pod(
            &format!("search-{n}"),
            dns_none(&["192.0.2.1"], &searches(n)),
        )
    };
    let seventh = attempt(&ctx, &with(7)?, true).await?;
    if seventh.invalid_with("search paths") {
        // The seed's limit: 6 accepted.
        let six = attempt(&ctx, &with(6)?, true).await?;
        return ensure(
            matches!(six, Verdict::Accepted),
            "creating a Pod with 6 search domains (dry run), where 7 were refused",
            "accepted",
            six.describe(),
        );
    }
    ensure(
        matches!(seventh, Verdict::Accepted),
        "creating a Pod with 7 search domains (dry run)",
        "refused for more than 6 search paths (the seed) or accepted (a later limit)",
        seventh.describe(),
    )?;
    let most = attempt(&ctx, &with(32)?, true).await?;
    ensure(
        matches!(most, Verdict::Accepted),
        "creating a Pod with 32 search domains (dry run), where 7 were accepted",
        "accepted (MaxDNSSearchPaths 32)",
        most.describe(),
    )?;
    let over = attempt(&ctx, &with(33)?, true).await?;
    ensure(
        over.invalid_with("must not have more than 32 search paths"),
        "creating a Pod with 33 search domains (dry run)",
        "refused: 422 Invalid, must not have more than 32 search paths",
        over.describe(),
    )?;
    ctx.finding(
        "Kubernetes allows at most 6 search domains",
        "7 and 32 search domains accepted, 33 refused (`must not have more than 32 search paths`: MaxDNSSearchPaths is 32 since v1.28)",
    );
    Ok(())
}
