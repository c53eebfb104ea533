//! The apiserver's per-resource behaviour on create/update: defaulting, allocation, validation.
//!
//! Services — pkg/registry/core/service/storage/storage.go (beginCreate/beginUpdate -> alloc.go),
//! then validation (pkg/apis/core/validation ValidateService/ValidateServiceUpdate).
//! Pods — pkg/apis/core/v1/defaults.go (SetDefaults_Pod, SetDefaults_PodSpec, SetDefaults_Container),
//! plugin/pkg/admission/serviceaccount (default SA, kube-api-access projected volume),
//! plugin/pkg/admission/defaulttolerationseconds, plugin/pkg/admission/priority.
//! ServiceCIDRs — pkg/apis/networking/validation; the protection finalizer (set by the ServiceCIDR
//! controller upstream, added at create here so an immediate delete is protected too).

use std::sync::Arc;

use rand::Rng;
use serde_json::{Value, json};

use super::allocator::{NodePortAllocator, StoreAllocator, release};
use super::{Cluster, name_of};
use crate::api_error::{ApiError, Cause};
use crate::deviation::Deviation;
use crate::model::family::IpFamily;
use crate::model::hosts::is_dns1123_subdomain;
use crate::model::pod_defaults;
use crate::model::servicecidr;
use crate::model::services::{self, FamilyQuirks};
use crate::store::{Admission, Op, Store};

pub(crate) fn register(store: &Store, cluster: &Arc<Cluster>) {
    store.add_admission(Arc::new(ServiceAdmission {
        cluster: cluster.clone(),
        node_ports: NodePortAllocator::default(),
    }));
    store.add_admission(Arc::new(PodAdmission {
        cluster: cluster.clone(),
    }));
    store.add_admission(Arc::new(ServiceCidrAdmission {
        cluster: cluster.clone(),
    }));
}

struct ServiceAdmission {
    cluster: Arc<Cluster>,
    node_ports: NodePortAllocator,
}

impl ServiceAdmission {
    fn families(&self) -> Vec<IpFamily> {
        self.cluster.topology.families()
    }

    fn quirks(&self) -> FamilyQuirks {
        FamilyQuirks {
            headless_selectorless_single_stack: self
                .cluster
                .has(Deviation::HeadlessNoSelectorSingleStack),
            default_prefer_dual: self.cluster.has(Deviation::ServiceDefaultPreferDual),
            no_single_stack_trim: self.cluster.has(Deviation::ServiceDowngradeRejected),
        }
    }

    /// Deviations that change the families the apiserver settles on.
    fn bend_families(&self, svc: &mut Value) {
        let mut fams = services::ip_families(svc);
        if self.cluster.has(Deviation::ServicePreferDualSingle)
            && services::policy(svc) == Some(services::PREFER_DUAL_STACK)
            && fams.len() == 2
        {
            fams.truncate(1);
            let ips = services::cluster_ips(svc);
            if ips.len() == 2 {
                svc["spec"]["clusterIPs"] = json!([ips[0]]);
            }
        }
        if self.cluster.has(Deviation::ServiceRequireDualSingle)
            && services::policy(svc) == Some(services::REQUIRE_DUAL_STACK)
            && !services::is_headless(svc)
            && fams.len() == 2
        {
            fams.truncate(1);
            let ips = services::cluster_ips(svc);
            if ips.len() == 2 {
                svc["spec"]["clusterIPs"] = json!([ips[0]]);
            }
        }
        let primary = self.families()[0].as_str();
        if self.cluster.has(Deviation::ServiceIgnoresIpfamiliesOrder) && fams.len() == 2 {
            fams.sort_by_key(|f| f != primary);
        }
        if self.cluster.has(Deviation::ServiceSingleStackPrimaryOnly)
            && services::policy(svc) == Some(services::SINGLE_STACK)
            && !services::is_headless(svc)
            && fams.len() == 1
        {
            fams = vec![primary.to_string()];
        }
        svc["spec"]["ipFamilies"] = json!(fams);
    }

    fn basic_validation(svc: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        let ports_empty = svc["spec"]["ports"].as_array().is_none_or(|p| p.is_empty());
        // ValidateService: ports are required unless headless or ExternalName.
        if ports_empty && !services::is_headless(svc) && svc["spec"]["type"] != "ExternalName" {
            causes.push(Cause::required("spec.ports", ""));
        }
        causes
    }

    fn create(&self, store: &Store, svc: &mut Value) -> Result<(), ApiError> {
        let name = name_of(svc).to_string();
        let ns = svc["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        if !name.is_empty() && store.get("services", Some(&ns), &name).is_some() {
            // Checked before allocating so a duplicate does not take IPs.
            return Err(ApiError::already_exists("services", &name));
        }
        let affinity_unset = svc["spec"]["sessionAffinity"].is_null();
        services::set_defaults(svc);
        if affinity_unset && self.cluster.has(Deviation::ServiceSessionAffinityClientIp) {
            svc["spec"]["sessionAffinity"] = json!("ClientIP");
        }
        if self
            .cluster
            .has(Deviation::ServicePreferDualRejectedOnSingleStack)
            && services::policy(svc) == Some(services::PREFER_DUAL_STACK)
            && self.families().len() < 2
        {
            let cause = Cause::invalid_value(
                "spec.ipFamilyPolicy",
                &json!(services::PREFER_DUAL_STACK),
                "this cluster is not configured for dual-stack services",
            );
            return Err(ApiError::invalid("Service", &name, vec![cause]));
        }
        services::init_ip_family_fields(svc, None, &self.families(), self.quirks())
            .map_err(|c| ApiError::invalid("Service", &name, c))?;
        self.bend_families(svc);
        let mut alloc = StoreAllocator::new(store, &self.cluster, svc);
        if let Err(e) = services::alloc_cluster_ips(svc, &mut alloc) {
            alloc.rollback();
            return Err(e);
        }
        // NodePorts after ClusterIPs, as storage.go `allocateCreate` (a failure reverts both).
        if let Err(e) = self.node_ports.allocate(store, &self.cluster, svc, None) {
            alloc.rollback();
            return Err(e);
        }
        let mut causes = Self::basic_validation(svc);
        causes.extend(services::validate_cluster_ips_related(svc));
        if !causes.is_empty() {
            alloc.rollback();
            return Err(ApiError::invalid("Service", &name, causes));
        }
        Ok(())
    }

    /// Deviation `service-ip-reallocated-on-selector-change`: new ClusterIPs of the Service's families,
    /// the ones it held released.
    fn reallocate(&self, store: &Store, svc: &mut Value) -> Result<(), ApiError> {
        let held = services::allocated_ips(svc);
        if let Some(spec) = svc["spec"].as_object_mut() {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
        let mut alloc = StoreAllocator::new(store, &self.cluster, svc);
        if let Err(e) = services::alloc_cluster_ips(svc, &mut alloc) {
            alloc.rollback();
            return Err(e);
        }
        release(store, &held);
        Ok(())
    }

    fn update(&self, store: &Store, svc: &mut Value, old: &Value) -> Result<(), ApiError> {
        if svc["spec"] == old["spec"] {
            return Ok(()); // metadata or status change only
        }
        let name = name_of(svc).to_string();
        let family_mutable = self.cluster.has(Deviation::ServiceFamilyMutable);
        let primary_changed = {
            let (o, n) = (services::ip_families(old), services::ip_families(svc));
            !o.is_empty() && !n.is_empty() && o[0] != n[0] && !services::is_headless(old)
        };
        if family_mutable && primary_changed {
            // Deviation: accept the new primary family and reallocate every ClusterIP.
            let old_ips = services::allocated_ips(old);
            if let Some(spec) = svc["spec"].as_object_mut() {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
            services::init_ip_family_fields(svc, None, &self.families(), self.quirks())
                .map_err(|c| ApiError::invalid("Service", &name, c))?;
            let mut alloc = StoreAllocator::new(store, &self.cluster, svc);
            if let Err(e) = services::alloc_cluster_ips(svc, &mut alloc) {
                alloc.rollback();
                return Err(e);
            }
            release(store, &old_ips);
            return Ok(());
        }
        // Fields the client left out keep their defaults (as the strategy's defaulting on update).
        services::set_defaults(svc);
        services::init_ip_family_fields(svc, Some(old), &self.families(), self.quirks())
            .map_err(|c| ApiError::invalid("Service", &name, c))?;
        // `service-prefer-dual-single` and `service-require-dual-single` hold on upgrades too: the secondary
        // family is never added.
        if (self.cluster.has(Deviation::ServicePreferDualSingle)
            || self.cluster.has(Deviation::ServiceRequireDualSingle))
            && services::ip_families(old).len() == 1
        {
            self.bend_families(svc);
        }
        let mut causes = Self::basic_validation(svc);
        causes.extend(services::validate_cluster_ips_related(svc));
        causes.extend(services::validate_update(old, svc));
        if !causes.is_empty() {
            return Err(ApiError::invalid("Service", &name, causes));
        }
        // upstream: storage/alloc.go `allocUpdate` -> `updateNodePorts`.
        self.node_ports
            .allocate(store, &self.cluster, svc, Some(old))?;
        let mut alloc = StoreAllocator::new(store, &self.cluster, svc);
        match services::update_cluster_ips(old, svc, &mut alloc) {
            Ok((_, to_release)) => {
                // Released after success; the IPAddress controller also drops IPs the Service no longer lists.
                release(store, &to_release);
                if self
                    .cluster
                    .has(Deviation::ServiceIpReallocatedOnSelectorChange)
                    && svc["spec"]["selector"] != old["spec"]["selector"]
                    && !services::is_headless(svc)
                {
                    self.reallocate(store, svc)?;
                }
                Ok(())
            }
            Err(e) => {
                alloc.rollback();
                Err(e)
            }
        }
    }
}

impl Admission for ServiceAdmission {
    fn admit(
        &self,
        store: &Store,
        op: Op,
        resource: &str,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        if resource != "services" {
            return Ok(());
        }
        match (op, old) {
            (Op::Create, _) => self.create(store, obj),
            (Op::Update, Some(old)) => self.update(store, obj, old),
            (Op::Update, None) => Ok(()),
        }
    }
}

fn random_suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

struct PodAdmission {
    cluster: Arc<Cluster>,
}

impl PodAdmission {
    fn default_container(c: &mut Value, api_access_volume: &str) {
        if !c.is_object() {
            return;
        }
        pod_defaults::default_container(c);
        let mount = json!({"name": api_access_volume, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"});
        match c["volumeMounts"].as_array_mut() {
            Some(mounts) => {
                if !mounts.iter().any(|m| m["mountPath"] == mount["mountPath"]) {
                    mounts.push(mount);
                }
            }
            None => c["volumeMounts"] = json!([mount]),
        }
    }

    /// pkg/apis/core/validation/validation.go: `ValidatePodName` (`NameIsDNSSubdomain`) and
    /// `validatePodDNSConfig` (at most `MaxDNSNameservers` 3 nameservers, `MaxDNSSearchPaths` 32 searches of
    /// at most `MaxDNSSearchListChars` 2048 characters joined; dnsPolicy None needs a nameserver).
    fn validate(&self, pod: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        let name = name_of(pod);
        // A generated name (controllers set generateName) is only chosen after admission here.
        if !name.is_empty()
            && !self.cluster.has(Deviation::PodNameUnvalidated)
            && !is_dns1123_subdomain(name)
        {
            causes.push(Cause::invalid_value(
                "metadata.name",
                &json!(name),
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ));
        }
        if self.cluster.has(Deviation::PodDnsConfigUnvalidated) {
            return causes;
        }
        let config = &pod["spec"]["dnsConfig"];
        let nameservers = config["nameservers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let searches: Vec<String> = config["searches"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if pod["spec"]["dnsPolicy"] == "None" {
            if config.is_null() {
                causes.push(Cause::required(
                    "spec.dnsConfig",
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                ));
            } else if nameservers.is_empty() {
                causes.push(Cause::required(
                    "spec.dnsConfig.nameservers",
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                ));
            }
        }
        if nameservers.len() > 3 {
            causes.push(Cause::invalid_value(
                "spec.dnsConfig.nameservers",
                &json!(nameservers),
                "must not have more than 3 nameservers",
            ));
        }
        if searches.len() > 32 {
            causes.push(Cause::invalid_value(
                "spec.dnsConfig.searches",
                &json!(searches),
                "must not have more than 32 search paths",
            ));
        }
        if searches.join(" ").len() > 2048 {
            causes.push(Cause::invalid_value(
                "spec.dnsConfig.searches",
                &json!(searches),
                "must not have more than 2048 characters (including spaces) in the search list",
            ));
        }
        causes
    }

    fn create(&self, store: &Store, pod: &mut Value) -> Result<(), ApiError> {
        let name = name_of(pod).to_string();
        let causes = self.validate(pod);
        if !causes.is_empty() {
            return Err(ApiError::invalid("Pod", &name, causes));
        }
        if !pod["spec"].is_object()
            || pod["spec"]["containers"]
                .as_array()
                .is_none_or(|c| c.is_empty())
        {
            return Err(ApiError::invalid(
                "Pod",
                &name,
                vec![Cause::required("spec.containers", "")],
            ));
        }
        let ns = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let spec = &mut pod["spec"];
        pod_defaults::default_pod_spec(spec);
        // What a created pod gets beyond the defaults the model gives a pod template.
        for (key, value) in [
            ("enableServiceLinks", json!(true)),
            ("serviceAccountName", json!("default")),
            ("priority", json!(0)),
            ("preemptionPolicy", json!("PreemptLowerPriority")),
        ] {
            if spec[key].is_null() {
                spec[key] = value;
            }
        }
        // The deprecated alias the apiserver keeps in sync.
        spec["serviceAccount"] = spec["serviceAccountName"].clone();
        let sa = spec["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let automount = spec["automountServiceAccountToken"]
            .as_bool()
            .unwrap_or(true);
        let volume_name = format!("kube-api-access-{}", random_suffix());
        for key in ["containers", "initContainers"] {
            if let Some(containers) = spec[key].as_array_mut() {
                for c in containers {
                    if automount {
                        Self::default_container(c, &volume_name);
                    } else {
                        Self::default_container(c, "");
                        if let Some(m) = c["volumeMounts"].as_array_mut() {
                            m.retain(|m| m["name"] != "");
                        }
                    }
                }
            }
        }
        if automount {
            let volume = json!({"name": volume_name, "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
            ]}});
            match spec["volumes"].as_array_mut() {
                Some(v) => v.push(volume),
                None => spec["volumes"] = json!([volume]),
            }
        }
        let tolerations = [
            ("node.kubernetes.io/not-ready", 300),
            ("node.kubernetes.io/unreachable", 300),
        ];
        let list = match spec["tolerations"].as_array_mut() {
            Some(l) => l,
            None => {
                spec["tolerations"] = json!([]);
                spec["tolerations"]
                    .as_array_mut()
                    .ok_or_else(|| ApiError::internal("tolerations"))?
            }
        };
        for (key, secs) in tolerations {
            if !list.iter().any(|t| t["key"] == key) {
                list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}));
            }
        }
        pod["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        // The ServiceAccount admission plugin refuses a pod whose service account does not exist yet
        // (plugin/pkg/admission/serviceaccount/admission.go): in a new namespace, until the serviceaccount
        // controller has created `default` (seen on a real kind cluster). The token controller is assumed done.
        if store.get("serviceaccounts", Some(&ns), &sa).is_none() {
            return Err(ApiError::forbidden(
                "pods",
                &name,
                &format!(
                    "error looking up service account {ns}/{sa}: serviceaccount \"{sa}\" not found"
                ),
            ));
        }
        Ok(())
    }
}

impl Admission for PodAdmission {
    fn admit(
        &self,
        store: &Store,
        op: Op,
        resource: &str,
        obj: &mut Value,
        _old: Option<&Value>,
    ) -> Result<(), ApiError> {
        if resource != "pods" || op != Op::Create {
            return Ok(());
        }
        self.create(store, obj)
    }
}

struct ServiceCidrAdmission {
    cluster: Arc<Cluster>,
}

impl Admission for ServiceCidrAdmission {
    fn admit(
        &self,
        _store: &Store,
        op: Op,
        resource: &str,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        if resource != "servicecidrs" {
            return Ok(());
        }
        if let Some(old) = old
            && old["spec"] == obj["spec"]
        {
            return Ok(());
        }
        let causes = servicecidr::validate(obj, old);
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                "ServiceCIDR.networking.k8s.io",
                name_of(obj),
                causes,
            ));
        }
        if op == Op::Create && !self.cluster.has(Deviation::ServicecidrNoFinalizer) {
            let finalizers = obj["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !finalizers.iter().any(|f| f == servicecidr::FINALIZER) {
                let mut f = finalizers;
                f.push(json!(servicecidr::FINALIZER));
                obj["metadata"]["finalizers"] = json!(f);
            }
        }
        Ok(())
    }
}
