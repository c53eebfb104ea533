//! What keeps the ServiceCIDR trials safe on a cluster netconform does not own:
//! - the disruptive trials (they exhaust the service range) are ignored, with a reason naming
//!   `NETCONFORM_ALLOW_DISRUPTIVE=1`, on any target that is neither a cluster netconform created (in this
//!   run or an earlier one) nor the test double, unless that variable allows them (the runner asks `Capabilities::unmet` for every
//!   need of a trial, with the run's target facts, before it runs the trial);
//! - a run killed in the middle of the docs' scenario leaves nothing behind once `netconform sweep` ran
//!   (here against the test double: the leftovers are created as such a run leaves them).

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::{IPAddress, ServiceCIDR};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use netconform::cluster::TargetKind;
use netconform::config::Settings;
use netconform::ipfamily::IpFamily;
use netconform::labels::{
    MANAGED_BY_KEY, MANAGED_BY_VALUE, RUN_ID_KEY, SUITE_KEY, managed_selector,
};
use netconform::preflight::{Capabilities, Detected, Need, NodeInfo, TargetFacts};
use netconform::trial::TrialDef;
use netconform::wait::{Budget, Verdict, Wait};
use netconform_double::{Double, DoubleConfig};
use netconform_suites::service_cidr::{self, newcidr1_object, owned_labels, service_cidr_resource};

/// A cluster like netconform's kind cluster, with the docs' /28 (so every other need is met).
fn capabilities(kind: TargetKind) -> Capabilities {
    let absent = Detected {
        present: false,
        evidence: "none".into(),
    };
    Capabilities {
        target: Some(kind),
        server_version: "v1.33.1".into(),
        nodes: vec![NodeInfo {
            name: "netconform-control-plane".into(),
            pod_cidrs: vec!["10.244.0.0/24".into(), "fd00:10:244::/64".into()],
            internal_ips: vec!["172.18.0.2".into(), "fc00:f853:ccd:e793::2".into()],
            schedulable: true,
        }],
        families: [IpFamily::IPv4, IpFamily::IPv6].into(),
        service_cidr_api: true,
        default_service_cidrs: Some(vec!["10.96.0.0/28".into(), "fd00:10:96::/112".into()]),
        free_ipv4_service_addresses: Some(12),
        load_balancer: absent.clone(),
        network_policy: absent.clone(),
        pod_dns_records: absent.clone(),
        external_client: absent,
    }
}

/// The reasons the runner would ignore `trial` for, as `run_trial` computes them.
fn skip_reasons(
    trial: &TrialDef,
    kind: TargetKind,
    made_by_netconform: bool,
    settings: &Settings,
) -> Vec<String> {
    let caps = capabilities(kind);
    let facts = TargetFacts {
        kind: Some(kind),
        made_by_netconform,
    };
    trial
        .needs
        .iter()
        .filter_map(|need| caps.unmet(*need, settings, facts))
        .collect()
}

#[test]
fn disruptive_trials_need_permission_on_clusters_netconform_did_not_create() {
    let disruptive: Vec<&TrialDef> = service_cidr::TRIALS
        .iter()
        .filter(|t| t.needs.contains(&Need::Disruptive))
        .collect();
    assert!(
        disruptive.len() >= 5,
        "exhaustion, expansion, deletion and release are disruptive"
    );
    let denied = Settings::default();
    let allowed = Settings {
        allow_disruptive: true,
        ..Settings::default()
    };
    for trial in &disruptive {
        assert!(
            trial.needs.contains(&Need::ServiceAllocatorAlone),
            "{} exhausts the range: it must have the allocator alone",
            trial.name
        );
        for (kind, made_by_netconform) in [(TargetKind::Existing, false), (TargetKind::Kind, false)]
        {
            let reasons = skip_reasons(trial, kind, made_by_netconform, &denied);
            assert!(
                reasons.len() == 1 && reasons[0].contains("NETCONFORM_ALLOW_DISRUPTIVE=1"),
                "{} on {kind:?} (created by us: {made_by_netconform}): {reasons:?}",
                trial.name
            );
            assert_eq!(
                skip_reasons(trial, kind, made_by_netconform, &allowed),
                Vec::<String>::new(),
                "{}",
                trial.name
            );
        }
        assert_eq!(
            skip_reasons(trial, TargetKind::Kind, true, &denied),
            Vec::<String>::new(),
            "{}",
            trial.name
        );
        assert_eq!(
            skip_reasons(trial, TargetKind::Simulated, false, &denied),
            Vec::<String>::new(),
            "{}",
            trial.name
        );
    }
    // The variant checks the finalizer on any cluster.
    for trial in service_cidr::TRIALS
        .iter()
        .filter(|t| !t.needs.contains(&Need::Disruptive))
    {
        assert_eq!(
            skip_reasons(trial, TargetKind::Existing, false, &denied),
            Vec::<String>::new(),
            "{}",
            trial.name
        );
    }
}

#[test]
fn every_service_cidr_trial_can_fail_under_a_deviation() {
    for trial in service_cidr::TRIALS {
        let named = service_cidr::BREAKS
            .iter()
            .any(|(_, trials)| trials.contains(&trial.name));
        assert!(named, "no deviation of the double names {}", trial.name);
    }
}

async fn double_client(double: &netconform_double::RunningDouble) -> Client {
    netconform::cluster::kubeconfig::connect_yaml(&double.kubeconfig_yaml(), "double")
        .await
        .unwrap()
        .client
}

fn service(name: &str, cluster_ip: Option<&str>) -> Service {
    let mut spec = json!({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"], "selector": {"app": name},
        "ports": [{"name": "80-80", "port": 80, "protocol": "TCP", "targetPort": 80}]});
    if let Some(ip) = cluster_ip {
        spec["clusterIP"] = json!(ip);
    }
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}))
        .unwrap()
}

/// A trial namespace as the runner creates it.
async fn trial_namespace(client: &Client, name: &str, run_id: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name, "labels": {
        MANAGED_BY_KEY: MANAGED_BY_VALUE, RUN_ID_KEY: run_id, SUITE_KEY: service_cidr::SUITE_LABEL}}}))
    .unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// A ServiceCIDR as the trials create it: the docs' newcidr1, renamed, labelled, served version.
async fn labelled_service_cidr(client: &Client, name: &str, run_id: &str, cidr: &str) {
    let mut object: DynamicObject = newcidr1_object(name, run_id, cidr).unwrap();
    let resource = service_cidr_resource("v1");
    object.types.as_mut().unwrap().api_version = resource.api_version.clone();
    Api::<DynamicObject>::all_with(client.clone(), &resource)
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
}

const GONE: Budget = Budget::new("interrupted-run-leftovers-gone", 60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_leaves_nothing_after_sweep() {
    let double = Double::start(DoubleConfig::default()).await.unwrap();
    let client = double_client(&double).await;
    let run_id = "killed01";
    assert_eq!(
        owned_labels(run_id).get(RUN_ID_KEY).map(String::as_str),
        Some(run_id)
    );

    // The docs' scenario, killed after `kubectl delete servicecidr newcidr1` while Services held its addresses.
    let exhaustion_ns = "nc-service-cidr-kill1";
    trial_namespace(&client, exhaustion_ns, run_id).await;
    let services: Api<Service> = Api::namespaced(client.clone(), exhaustion_ns);
    let mut number = 1;
    loop {
        match services
            .create(
                &PostParams::default(),
                &service(&format!("test-{number}"), None),
            )
            .await
        {
            Ok(_) => number += 1,
            Err(kube::Error::Api(s)) if s.code == 500 && s.message.contains("range is full") => {
                break;
            }
            Err(e) => panic!("test-{number}: {e}"),
        }
        assert!(number < 20, "the /28 never filled");
    }
    let newcidr1 = format!("newcidr1-deletion-in-use-{run_id}");
    labelled_service_cidr(&client, &newcidr1, run_id, "10.96.0.0/24").await;
    let sc_api: Api<ServiceCIDR> = Api::all(client.clone());
    let mut holders = Vec::new();
    // The double's allocator reads ServiceCIDRs from its store: the new range serves at once.
    for extra in number..number + 4 {
        let created = services
            .create(
                &PostParams::default(),
                &service(&format!("test-{extra}"), None),
            )
            .await
            .unwrap();
        holders.push(created.spec.unwrap().cluster_ip.unwrap());
    }
    assert!(
        holders.iter().all(|ip| !ip.starts_with("10.96.0.")
            || ip.rsplit('.').next().unwrap().parse::<u8>().unwrap() > 15),
        "{holders:?}"
    );
    sc_api
        .delete(&newcidr1, &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        sc_api
            .get(&newcidr1)
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some(),
        "in use: kept by its finalizer"
    );

    // The non-disruptive variant, killed while its Service held an explicit address of its /30.
    let variant_ns = "nc-service-cidr-kill2";
    trial_namespace(&client, variant_ns, run_id).await;
    let variant = format!("newcidr1-explicit-ip-released-{run_id}");
    labelled_service_cidr(&client, &variant, run_id, "192.0.2.8/30").await;
    let variant_services: Api<Service> = Api::namespaced(client.clone(), variant_ns);
    variant_services
        .create(
            &PostParams::default(),
            &service("explicit-1", Some("192.0.2.9")),
        )
        .await
        .unwrap();

    let report = netconform::sweep::sweep(&client, &Default::default())
        .await
        .unwrap();
    for leftover in [
        exhaustion_ns,
        variant_ns,
        newcidr1.as_str(),
        variant.as_str(),
    ] {
        assert!(
            report.deleted.iter().any(|d| d.ends_with(leftover)),
            "{leftover} not swept: {report:?}"
        );
    }

    // Namespaces (with their Services), both ServiceCIDRs and every address those Services held go away.
    let labelled = watcher::Config::default().labels(&managed_selector());
    let describe = |o: &DynamicObject| {
        format!(
            "{} {}",
            o.types.as_ref().map(|t| t.kind.as_str()).unwrap_or(""),
            o.name_any()
        )
    };
    for resource in [
        service_cidr_resource("v1"),
        kube::api::ApiResource::erase::<Namespace>(&()),
    ] {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let awaited = format!("labelled {} to be gone", resource.plural);
        let left = Wait::new(api.clone(), GONE, 1.0)
            .awaiting(&awaited)
            .showing(&describe)
            .until_all(labelled.clone(), |objs: &[DynamicObject]| {
                if objs.is_empty() {
                    Verdict::Done
                } else {
                    Verdict::Pending
                }
            })
            .await;
        assert!(
            left.is_ok(),
            "{}",
            left.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }
    let ips: Api<IPAddress> = Api::all(client.clone());
    let ours = |ip: &IPAddress| {
        ip.spec.as_ref().is_some_and(|s| {
            [exhaustion_ns, variant_ns].contains(&s.parent_ref.namespace.as_deref().unwrap_or(""))
        })
    };
    let left = ips.list(&ListParams::default()).await.unwrap().items;
    assert!(
        !left.iter().any(ours),
        "addresses still held: {:?}",
        left.iter()
            .filter(|ip| ours(ip))
            .map(|ip| ip.name_any())
            .collect::<Vec<_>>()
    );
    // What the run did not create is untouched.
    assert!(
        sc_api
            .get_opt("kubernetes")
            .await
            .unwrap()
            .is_some_and(|sc| sc.metadata.deletion_timestamp.is_none())
    );
    assert!(ips.get_opt("10.96.0.1").await.unwrap().is_some());
    double.shutdown().await;
}
