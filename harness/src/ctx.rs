//! A trial's context: its own namespace, the client, its buffered log, waits, exec and doc findings.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::sync::{Arc, Mutex};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cleanup::{Creating, Owned};
use crate::cluster::TargetKind;
use crate::diagnostics::pod_status;
use crate::exec::{self, ExecOutput};
use crate::failure::TrialError;
use crate::labels;
use crate::preflight::Capabilities;
use crate::report::DocFinding;
use crate::retry::{create_retrying, retrying};
use crate::run::{RunState, new_run_id};
use crate::schedule::Lease;
use crate::trial::TrialId;
use crate::wait::{Budget, Expect, Paced, Wait, budgets, conditions, eventually};

/// Waits until namespace `namespace` has its `default` ServiceAccount. The serviceaccount controller creates it
/// after the namespace (pkg/controller/serviceaccount/serviceaccounts_controller.go), and until then the
/// ServiceAccount admission plugin refuses every pod: `403 error looking up service account <ns>/default`
/// (plugin/pkg/admission/serviceaccount/admission.go). Upstream e2e waits the same way after creating a
/// namespace (test/e2e/framework/framework.go, WaitForDefaultServiceAccountInNamespace). Seen on the real
/// kind cluster: pods created right after their namespace were refused.
pub async fn wait_default_service_account(
    client: &Client,
    namespace: &str,
    scale: f64,
) -> Result<(), TrialError> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    Wait::new(accounts, budgets::NAMESPACE_READY, scale)
        .awaiting(format!("ServiceAccount {namespace}/default"))
        .showing(|_| "exists".to_string())
        .until("default", conditions::exists())
        .await
        .map(|_| ())
}

/// Creates namespace `name` for trial `def`, labelled as the run's and annotated with the trial, registered
/// for cleanup before the create (an interrupt between the two still deletes it), and waits for its
/// default ServiceAccount.
async fn create_namespace(run: &RunState, def: &TrialId, name: &str) -> Result<(), TrialError> {
    let suite = def.suite().replace('_', "-");
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels::owned_namespace_labels(&run.run_id, &suite)),
            annotations: Some(
                [(labels::TRIAL_ANNOTATION.to_string(), def.name.to_string())].into(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let _creating = run
        .cleanup
        .creating(Owned::Namespace(name.to_string()))
        .map_err(|e| TrialError::Harness(e.to_string()))?;
    create_retrying(&Api::all(run.client.clone()), &ns)
        .await
        .map_err(TrialError::api(format!("creating namespace {name}")))?;
    wait_default_service_account(&run.client, name, run.settings.timeout_scale).await
}

/// Cheap to clone; all clones share the log and findings.
#[derive(Clone)]
pub struct Ctx {
    inner: Arc<Inner>,
}

struct Inner {
    run: Arc<RunState>,
    trial: TrialId,
    namespace: String,
    log: Mutex<String>,
    findings: Mutex<Vec<DocFinding>>,
    /// Cluster-scoped objects this trial created; deleted when it ends.
    owned: Mutex<Vec<Owned>>,
    /// The trial's place in the schedule (its service addresses).
    lease: Arc<Lease>,
    /// Diagnostics of the shared scenarios the trial read (their namespaces are gone when it fails).
    shared_diagnostics: Mutex<String>,
}

impl Ctx {
    pub fn new(run: Arc<RunState>, trial: TrialId, namespace: String, lease: Arc<Lease>) -> Ctx {
        Ctx {
            inner: Arc::new(Inner {
                run,
                trial,
                namespace,
                log: Mutex::new(String::new()),
                findings: Mutex::new(Vec::new()),
                owned: Mutex::new(Vec::new()),
                lease,
                shared_diagnostics: Mutex::new(String::new()),
            }),
        }
    }

    /// A context in a fresh namespace of its own for `def` (see [`create_namespace`]): a trial's attempt, or
    /// a shared scenario's computation.
    pub async fn open(
        run: Arc<RunState>,
        def: TrialId,
        lease: Arc<Lease>,
    ) -> Result<Ctx, TrialError> {
        let suite = def.suite().replace('_', "-");
        let namespace = format!("nc-{suite}-{}", &new_run_id()[..5]);
        create_namespace(&run, &def, &namespace)
            .await
            .map_err(|e| match e {
                TrialError::Api { source, .. } => {
                    TrialError::Harness(format!("could not create the trial namespace: {source}"))
                }
                TrialError::Harness(why) => {
                    TrialError::Harness(format!("could not create the trial namespace: {why}"))
                }
                // Its default ServiceAccount never came.
                waited => waited,
            })?;
        Ok(Ctx::new(run, def, namespace, lease))
    }

    /// Deletes what the context owns, its namespace last, and, while it holds service addresses, waits
    /// until the Services of its namespaces are gone: the addresses go back to the budget only then (a
    /// terminating namespace may keep them a while). Returns one `cleanup: …` log line per problem.
    pub async fn close(&self) -> String {
        let run = &self.inner.run;
        let owned: Vec<Owned> = self
            .take_owned()
            .into_iter()
            .chain([Owned::Namespace(self.namespace().to_string())])
            .collect();
        let mut problems = String::new();
        let holds_addresses = self.inner.lease.holds_service_addresses();
        for owned in &owned {
            // The namespace controller gets to a deleted namespace's Services late on a busy cluster (tens
            // of seconds on the 2-core testbed), and other trials wait for their addresses meanwhile: delete
            // them first, at once.
            if holds_addresses
                && let Owned::Namespace(ns) = owned
                && let Err(problem) = crate::cleanup::delete_services(&run.client, ns).await
            {
                problems.push_str(&format!("cleanup: {problem}\n"));
            }
            if let Err(problem) = run.cleanup.delete(owned).await {
                problems.push_str(&format!("cleanup: {problem}\n"));
            }
        }
        if holds_addresses {
            for owned in &owned {
                if let Owned::Namespace(ns) = owned
                    && let Err(problem) = crate::cleanup::wait_services_gone(
                        &run.client,
                        ns,
                        run.settings.timeout_scale,
                    )
                    .await
                {
                    problems.push_str(&format!("cleanup: {problem}\n"));
                }
            }
        }
        problems
    }

    /// What a failed trial's report carries: the diagnostics of the shared scenarios it read, then those
    /// of its own namespace.
    pub async fn diagnostics(&self) -> String {
        let shared = self
            .inner
            .shared_diagnostics
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        shared + &crate::diagnostics::collect(&self.client(), self.namespace()).await
    }

    /// Takes in what a shared scenario logged, found and left as diagnostics, as this trial's own: its
    /// findings are attributed to this trial's claim.
    pub(crate) fn adopt(&self, log: &str, findings: &[DocFinding], diagnostics: &str) {
        if let Ok(mut mine) = self.inner.log.lock() {
            mine.push_str(log);
        }
        if let Ok(mut mine) = self.inner.findings.lock() {
            mine.extend(findings.iter().map(|f| DocFinding {
                claim: self.inner.trial.claim.to_string(),
                doc_url: self.inner.trial.doc_url.to_string(),
                ..f.clone()
            }));
        }
        if let Ok(mut mine) = self.inner.shared_diagnostics.lock() {
            mine.push_str(diagnostics);
        }
    }

    #[cfg(test)]
    pub(crate) fn inner_shared_diagnostics(&self) -> String {
        self.inner
            .shared_diagnostics
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    /// The run and the trial's lease, for a shared scenario computed on the trial's behalf.
    pub(crate) fn run_state(&self) -> Arc<RunState> {
        self.inner.run.clone()
    }
    pub(crate) fn lease(&self) -> Arc<Lease> {
        self.inner.lease.clone()
    }

    pub fn client(&self) -> Client {
        self.inner.run.client.clone()
    }
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }
    pub fn run(&self) -> &RunState {
        &self.inner.run
    }
    pub fn capabilities(&self) -> &Capabilities {
        &self.inner.run.capabilities
    }
    pub fn trial(&self) -> &TrialId {
        &self.inner.trial
    }
    /// `NETCONFORM_TIMEOUT_SCALE`, for waits built directly on [`crate::wait`].
    pub fn scale(&self) -> f64 {
        self.inner.run.settings.timeout_scale
    }

    /// Hands the trial's service addresses back to the schedule: call it only once the trial holds no
    /// IPv4 ClusterIP any more and merely waits (a rerun takes them again).
    pub fn release_service_addresses(&self) {
        self.inner.lease.release_service_addresses();
    }

    /// Takes the trial's service addresses again after [`Ctx::release_service_addresses`].
    pub async fn take_service_addresses(&self) {
        self.inner.lease.take_service_addresses().await;
    }

    /// An API for `K` in the trial's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client(), self.namespace())
    }

    /// Appends a line to the trial's log, printed only when the trial fails.
    pub fn log(&self, line: impl Display) {
        if let Ok(mut log) = self.inner.log.lock() {
            log.push_str(&line.to_string());
            log.push('\n');
        }
    }
    pub fn take_log(&self) -> String {
        self.inner
            .log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Records that the docs and a conforming cluster disagree (stale apiVersion, renamed reason).
    /// This is not a failure of the cluster: the trial still passes if the cluster behaves as upstream does.
    pub fn finding(&self, doc_says: impl Into<String>, cluster_shows: impl Into<String>) {
        let finding = DocFinding {
            claim: self.inner.trial.claim.to_string(),
            doc_url: self.inner.trial.doc_url.to_string(),
            doc_says: doc_says.into(),
            cluster_shows: cluster_shows.into(),
        };
        let shown_by = match self.inner.run.target {
            TargetKind::Simulated => "the double",
            _ => "the cluster",
        };
        self.log(format!(
            "doc finding: the doc says {}; {shown_by} shows {}",
            finding.doc_says, finding.cluster_shows
        ));
        if let Ok(mut findings) = self.inner.findings.lock() {
            findings.push(finding);
        }
    }
    pub fn take_findings(&self) -> Vec<DocFinding> {
        self.inner
            .findings
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }

    /// A name for a cluster-scoped object that carries the run id, so runs never collide.
    pub fn cluster_scoped_name(&self, base: &str) -> String {
        format!("{base}-{}", self.inner.run.run_id)
    }

    /// Registers a cluster-scoped object for deletion when the trial ends (or the run is interrupted). Hold
    /// the guard until its create has answered: an interrupt waits for it. Fails once the run is interrupted.
    pub fn own_cluster_scoped(
        &self,
        resource: ApiResource,
        name: &str,
    ) -> Result<Creating<'_>, TrialError> {
        self.own(Owned::ClusterScoped {
            resource,
            name: name.to_string(),
        })
    }

    fn own(&self, owned: Owned) -> Result<Creating<'_>, TrialError> {
        let creating = self
            .inner
            .run
            .cleanup
            .creating(owned.clone())
            .map_err(|e| TrialError::Harness(e.to_string()))?;
        if let Ok(mut mine) = self.inner.owned.lock() {
            mine.push(owned);
        }
        Ok(creating)
    }
    pub fn take_owned(&self) -> Vec<Owned> {
        self.inner
            .owned
            .lock()
            .map(|mut o| std::mem::take(&mut *o))
            .unwrap_or_default()
    }

    /// Creates `obj` in the trial's namespace. A create that is retried after a transient error
    /// may find its own earlier attempt: AlreadyExists on a retry returns the existing object.
    pub async fn create<K>(&self, obj: &K) -> Result<K, TrialError>
    where
        K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Serialize + Debug,
        <K as Resource>::DynamicType: Default,
    {
        self.create_in(self.namespace(), obj).await
    }

    /// Creates `obj` in `namespace` (the trial's own or one from [`Ctx::extra_namespace`]), as [`Ctx::create`].
    pub async fn create_in<K>(&self, namespace: &str, obj: &K) -> Result<K, TrialError>
    where
        K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Serialize + Debug,
        <K as Resource>::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client(), namespace);
        let name = obj.name_any();
        let mapped = self.map_images(obj)?;
        let obj = mapped.as_ref().unwrap_or(obj);
        let mut attempts = 0;
        let result = retrying(|| {
            attempts += 1;
            let api = api.clone();
            let first = attempts == 1;
            let name = name.clone();
            async move {
                match api.create(&PostParams::default(), obj).await {
                    Err(kube::Error::Api(s))
                        if s.code == 409 && s.reason == "AlreadyExists" && !first =>
                    {
                        api.get(&name).await
                    }
                    other => other,
                }
            }
        })
        .await;
        let created = result.map_err(TrialError::api(format!(
            "creating {} {namespace}/{name}",
            K::kind(&Default::default())
        )))?;
        self.log(format!(
            "created {} {namespace}/{name}",
            K::kind(&Default::default())
        ));
        Ok(created)
    }

    /// `obj` with the image map applied (`NETCONFORM_IMAGES`), each substitution logged; `None` when nothing
    /// was replaced. The docs' manifests stay verbatim on disk: the map applies only to what is sent.
    fn map_images<K>(&self, obj: &K) -> Result<Option<K>, TrialError>
    where
        K: Resource + Serialize + DeserializeOwned,
        <K as Resource>::DynamicType: Default,
    {
        let images = &self.inner.run.settings.images;
        if images.is_empty() {
            return Ok(None);
        }
        let kind = K::kind(&Default::default()).to_string();
        let mut value = serde_json::to_value(obj).map_err(|e| {
            TrialError::Harness(format!("serialising a {kind} for the image map: {e}"))
        })?;
        if value.get("kind").is_none() {
            value["kind"] = serde_json::Value::String(kind.clone());
        }
        let made = images.rewrite(&mut value);
        if made.is_empty() {
            return Ok(None);
        }
        for substitution in &made {
            self.log(format!(
                "{kind} {}: {substitution}",
                obj.meta().name.as_deref().unwrap_or("")
            ));
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| TrialError::Harness(format!("a {kind} after the image map: {e}")))
    }

    /// Creates a second namespace the trial owns (for claims about two namespaces), named
    /// `<trial namespace>-<suffix>` and labelled like the trial's own; deleted when the trial ends
    /// (or the run is interrupted).
    pub async fn extra_namespace(&self, suffix: &str) -> Result<String, TrialError> {
        let name = format!("{}-{suffix}", self.namespace());
        if let Ok(mut mine) = self.inner.owned.lock() {
            mine.push(Owned::Namespace(name.clone()));
        }
        create_namespace(&self.inner.run, &self.inner.trial, &name).await?;
        self.log(format!("created Namespace {name}"));
        Ok(name)
    }

    /// A watch-driven wait on objects of the trial's namespace, within `budget` scaled by the run's scale.
    pub fn wait<K>(&self, budget: Budget) -> Wait<'_, K>
    where
        K: Resource<Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + 'static,
        <K as Resource>::DynamicType: Default,
    {
        self.wait_on(self.api(), budget)
    }

    /// A watch-driven wait on `api` (another namespace, cluster-scoped objects), within `budget` scaled by
    /// the run's scale.
    pub fn wait_on<K>(&self, api: Api<K>, budget: Budget) -> Wait<'_, K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    {
        Wait::new(api, budget, self.scale())
    }

    /// A data-plane wait ([`eventually`]) within `within`'s budget scaled by the run's scale.
    pub async fn eventually<T, F, Fut>(
        &self,
        within: Paced,
        observe: F,
        expect: Expect<'_, T>,
    ) -> Result<T, TrialError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TrialError>>,
    {
        eventually(within, self.scale(), observe, expect).await
    }

    /// Waits for the pod to be Running and Ready.
    pub async fn wait_pod_running(&self, name: &str) -> Result<Pod, TrialError> {
        self.wait_pod_running_in(self.namespace(), name).await
    }

    /// Waits for a pod of `namespace` (the trial's or another) to be Running and Ready.
    pub async fn wait_pod_running_in(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Pod, TrialError> {
        let pod = if namespace == self.namespace() {
            name.to_string()
        } else {
            format!("{namespace}/{name}")
        };
        self.wait_on(
            Api::namespaced(self.client(), namespace),
            budgets::POD_START,
        )
        .awaiting(format!("pod {pod} to be Running and Ready"))
        .showing(describe_pod)
        .object(name, conditions::pod_running_and_ready())
        .await
    }

    /// Waits for the pod to run to completion (phase Succeeded, shown by kubectl as Completed).
    pub async fn wait_pod_succeeded(&self, name: &str) -> Result<Pod, TrialError> {
        self.wait(budgets::POD_COMPLETION)
            .awaiting(format!("pod {name} to reach phase Succeeded"))
            .showing(describe_pod)
            .object(name, conditions::pod_phase("Succeeded"))
            .await
    }

    /// Runs a command in a container of a pod in the trial's namespace; the transcript goes to the trial log.
    pub async fn exec(
        &self,
        pod: &str,
        container: &str,
        command: &[&str],
    ) -> Result<ExecOutput, TrialError> {
        let out = exec::exec(&self.api::<Pod>(), pod, container, command)
            .await
            .map_err(|e| TrialError::Harness(e.to_string()))?;
        self.log(format!(
            "exec in {pod}/{container}:\n{}",
            out.describe(command)
        ));
        Ok(out)
    }

    /// The whole log of a container of a pod in the trial's namespace.
    pub async fn logs(&self, pod: &str, container: &str) -> Result<String, TrialError> {
        exec::logs(&self.api::<Pod>(), pod, container)
            .await
            .map_err(|e| TrialError::Harness(e.to_string()))
    }
}

fn describe_pod(pod: &Pod) -> String {
    format!("pod {}: {}", pod.name_any(), pod_status(pod).trim_end())
}
