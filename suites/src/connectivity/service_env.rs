//! Service environment variables (https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables):
//! the kubelet adds `{SVCNAME}_SERVICE_HOST`/`_SERVICE_PORT` and Docker-link variables for every Service of the
//! pod's namespace that exists when the pod starts, unless `enableServiceLinks: false`; the `kubernetes`
//! Service's variables are always there.
//!
//! upstream: pkg/kubelet/kubelet_pods.go (`getServiceEnvVarMap`: the master `kubernetes` Service of the
//! `default` namespace always, the pod namespace's Services when enableServiceLinks; `makeEnvironmentVariables`
//! runs when the container is created), pkg/kubelet/envvars/envvars.go (`FromServices`, `makeLinkVariables`,
//! `makeEnvVariableName`: upper case, `-` to `_`; `net.JoinHostPort` brackets IPv6).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::Api;
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip};
use netconform::preflight::Need;
use netconform::retry::retrying;
use netconform::trial::TrialDef;

use crate::pods::from_json;
use crate::shared::probe::{self, CLIENT_CONTAINER};

const PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables";
const CONNECT_PAGE: &str = "https://kubernetes.io/docs/tutorials/services/connect-applications-service/#environment-variables";

/// The page's example variables for `redis-primary` (TCP 6379, cluster IP 10.0.0.11).
const DOC_EXAMPLE: &str = "REDIS_PRIMARY_SERVICE_HOST=10.0.0.11
REDIS_PRIMARY_SERVICE_PORT=6379
REDIS_PRIMARY_PORT=tcp://10.0.0.11:6379
REDIS_PRIMARY_PORT_6379_TCP=tcp://10.0.0.11:6379
REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp
REDIS_PRIMARY_PORT_6379_TCP_PORT=6379
REDIS_PRIMARY_PORT_6379_TCP_ADDR=10.0.0.11";

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "connectivity::service_env::docker_link_variables",
        claim: "the Service redis-primary (TCP port 6379) produces REDIS_PRIMARY_SERVICE_HOST, REDIS_PRIMARY_SERVICE_PORT and the Docker-link variables REDIS_PRIMARY_PORT, _PORT_6379_TCP, _PORT_6379_TCP_PROTO, _PORT_6379_TCP_PORT and _PORT_6379_TCP_ADDR in pods started after it",
        doc_url: PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(docker_link_variables(ctx)),
    },
    TrialDef {
        name: "connectivity::service_env::only_earlier_services",
        claim: "you must create the Service before the client Pods come into existence; otherwise those Pods won't have its environment variables populated",
        doc_url: PAGE,
        needs: &[Need::ServiceAddresses(2)],
        run: |ctx| Box::pin(only_earlier_services(ctx)),
    },
    TrialDef {
        name: "connectivity::service_env::enable_service_links_false",
        claim: "setting `enableServiceLinks` to `false` on the pod spec disables the Service environment variables; the `kubernetes` Service's variables (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT and the rest) stay",
        doc_url: CONNECT_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(enable_service_links_false(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::ServiceEnvNoDockerLinks,
        &[
            "connectivity::service_env::docker_link_variables",
            "connectivity::service_env::enable_service_links_false",
            "connectivity::service_env::only_earlier_services",
        ],
    ),
    (
        Deviation::ServiceEnvFollowsNewServices,
        &["connectivity::service_env::only_earlier_services"],
    ),
    (
        Deviation::ServiceLinksIgnoreDisable,
        &["connectivity::service_env::enable_service_links_false"],
    ),
    (
        Deviation::ServiceLinksDropKubernetes,
        &["connectivity::service_env::enable_service_links_false"],
    ),
];

/// `makeEnvVariableName`.
fn env_name(service: &str) -> String {
    service.replace('-', "_").to_uppercase()
}

/// `envvars.FromServices` for one Service: name, ClusterIP and (name, port, protocol) of its ports.
pub(crate) fn expected_variables(
    service: &str,
    cluster_ip: &str,
    ports: &[(Option<String>, i32, String)],
) -> BTreeMap<String, String> {
    let prefix = env_name(service);
    let mut out = BTreeMap::new();
    let Some((_, first, _)) = ports.first() else {
        return out;
    };
    out.insert(format!("{prefix}_SERVICE_HOST"), cluster_ip.to_string());
    out.insert(format!("{prefix}_SERVICE_PORT"), first.to_string());
    let host_port = |port: i32| match family_of_ip(cluster_ip) {
        Ok(IpFamily::IPv6) => format!("[{cluster_ip}]:{port}"),
        _ => format!("{cluster_ip}:{port}"),
    };
    for (i, (name, port, protocol)) in ports.iter().enumerate() {
        if let Some(name) = name.as_deref().filter(|n| !n.is_empty()) {
            out.insert(
                format!("{prefix}_SERVICE_PORT_{}", env_name(name)),
                port.to_string(),
            );
        }
        let url = format!("{}://{}", protocol.to_lowercase(), host_port(*port));
        if i == 0 {
            out.insert(format!("{prefix}_PORT"), url.clone());
        }
        let port_prefix = format!("{prefix}_PORT_{port}_{}", protocol.to_uppercase());
        out.insert(port_prefix.clone(), url);
        out.insert(format!("{port_prefix}_PROTO"), protocol.to_lowercase());
        out.insert(format!("{port_prefix}_PORT"), port.to_string());
        out.insert(format!("{port_prefix}_ADDR"), cluster_ip.to_string());
    }
    out
}

/// The variables a Service as created produces.
fn variables_of(svc: &Service) -> BTreeMap<String, String> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let spec = svc.spec.clone().unwrap_or_default();
    let ip = spec.cluster_ip.unwrap_or_default();
    let ports: Vec<(Option<String>, i32, String)> = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.port, p.protocol.unwrap_or_else(|| "TCP".into())))
        .collect();
    expected_variables(&name, &ip, &ports)
}

/// A Service `name` exposing TCP `port` (selecting `app=name`; nothing needs to back it).
fn service(name: &str, port: i32) -> Result<Service, TrialError> {
    from_json(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": port, "protocol": "TCP"}]}
    }))
}

/// Starts a busybox pod and returns its environment (`env` in the container), parsed.
async fn environment_of(ctx: &Ctx, pod: &Pod) -> Result<BTreeMap<String, String>, TrialError> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    probe::start(ctx, None, std::slice::from_ref(pod)).await?;
    let out = ctx.exec(&name, CLIENT_CONTAINER, &["env"]).await?;
    ensure(
        out.exit_code == 0,
        &format!("`env` in pod {name}"),
        0,
        out.exit_code,
    )?;
    Ok(parse_env(&out.stdout))
}

fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The variables of `env` whose names start with `prefix`.
fn with_prefix(env: &BTreeMap<String, String>, prefix: &str) -> BTreeMap<String, String> {
    env.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn show(vars: &BTreeMap<String, String>) -> String {
    if vars.is_empty() {
        return "(none)".into();
    }
    vars.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn docker_link_variables(ctx: Ctx) -> Result<(), TrialError> {
    let svc = ctx.create(&service("redis-primary", 6379)?).await?;
    let expected = variables_of(&svc);
    let env = environment_of(&ctx, &probe::client_pod("client", None, &[])?).await?;
    let seen = with_prefix(&env, "REDIS_PRIMARY_");
    ensure(
        seen == expected,
        "the REDIS_PRIMARY_* variables of a pod started after Service redis-primary",
        format!(
            "{}\n\nthe page's example (cluster IP 10.0.0.11):\n{DOC_EXAMPLE}",
            show(&expected)
        ),
        show(&seen),
    )
}

async fn only_earlier_services(ctx: Ctx) -> Result<(), TrialError> {
    let before = ctx.create(&service("before", 80)?).await?;
    let pod = probe::client_pod("client", None, &[])?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    probe::start(&ctx, None, std::slice::from_ref(&pod)).await?;
    ctx.create(&service("after", 80)?).await?;
    let out = ctx.exec(&name, CLIENT_CONTAINER, &["env"]).await?;
    let env = parse_env(&out.stdout);
    let earlier = with_prefix(&env, "BEFORE_");
    ensure(
        earlier == variables_of(&before),
        "the BEFORE_* variables of a pod started after Service before",
        show(&variables_of(&before)),
        show(&earlier),
    )?;
    let later = with_prefix(&env, "AFTER_");
    ensure(
        later.is_empty(),
        "the AFTER_* variables of a pod started before Service after was created",
        "(none)",
        show(&later),
    )
}

async fn enable_service_links_false(ctx: Ctx) -> Result<(), TrialError> {
    ctx.create(&service("redis-primary", 6379)?).await?;
    let mut pod = probe::client_pod("client", None, &[])?;
    if let Some(spec) = pod.spec.as_mut() {
        spec.enable_service_links = Some(false);
    }
    let env = environment_of(&ctx, &pod).await?;
    let namespace_vars = with_prefix(&env, "REDIS_PRIMARY_");
    ensure(
        namespace_vars.is_empty(),
        "the REDIS_PRIMARY_* variables of a pod with enableServiceLinks: false",
        "(none)",
        show(&namespace_vars),
    )?;
    let api: Api<Service> = Api::namespaced(ctx.client(), "default");
    let kubernetes = retrying(|| api.get("kubernetes"))
        .await
        .map_err(TrialError::api("reading Service default/kubernetes"))?;
    let expected = variables_of(&kubernetes);
    let seen = with_prefix(&env, "KUBERNETES_");
    ensure(
        seen == expected,
        "the KUBERNETES_* variables of a pod with enableServiceLinks: false (the `kubernetes` Service of `default`)",
        show(&expected),
        show(&seen),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_example() {
        let vars = expected_variables("redis-primary", "10.0.0.11", &[(None, 6379, "TCP".into())]);
        assert_eq!(show(&vars), show(&parse_env(DOC_EXAMPLE)));
        // The tutorial's kubernetes Service: port 443 named https.
        let k = expected_variables(
            "kubernetes",
            "10.0.0.1",
            &[(Some("https".into()), 443, "TCP".into())],
        );
        assert_eq!(k["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
        assert_eq!(k["KUBERNETES_PORT"], "tcp://10.0.0.1:443");
        let v6 = expected_variables("my-svc", "fd00:10:96::a", &[(None, 80, "UDP".into())]);
        assert_eq!(v6["MY_SVC_PORT_80_UDP"], "udp://[fd00:10:96::a]:80");
    }
}
