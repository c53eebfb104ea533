//! The in-memory object store of the test double: etcd plus the generic registry's rules.
//!
//! One global, monotonically increasing resourceVersion (as etcd's revision), uid and
//! creationTimestamp on create, `generation` for resources that track it, the admission chain,
//! finalizers with `deletionTimestamp`, namespace termination, and a bounded event history so
//! watches can resume from a resourceVersion or be told it expired (410).
//! upstream: staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go (Create, Update,
//! Delete, updateForGracefulDeletionAndFinalizers), staging/src/k8s.io/apiserver/pkg/registry/rest/
//! create.go and update.go (BeforeCreate, BeforeUpdate), pkg/registry/core/namespace/storage/storage.go.

pub mod meta;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::Object;
use crate::api_error::ApiError;
use crate::resources::{self, ResourceDef};
use meta::{
    finalizers, has_spec_finalizers, mark_deleted, meta_str, metadata_mut, name_required, new_uid,
    owner_uids, prepare_for_create, prepare_for_status_update, prepare_for_update, random_suffix,
    resource_version_of, scope_namespace, set_resource_version, set_type_meta,
};

/// How many past events a watch can resume from by default.
pub const DEFAULT_HISTORY: usize = 4096;
const BROADCAST_CAPACITY: usize = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The watch event type as it appears on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A change to one object; for `Deleted` the object is its final state, carrying the
/// resourceVersion of the deletion (as etcd3 watches report it).
#[derive(Debug, Clone)]
pub struct StoreEvent {
    pub kind: EventType,
    pub resource: &'static str,
    pub object: Object,
}

impl StoreEvent {
    /// The resourceVersion at which this event happened.
    pub fn resource_version(&self) -> u64 {
        resource_version_of(&self.object).unwrap_or(0)
    }

    /// The object's namespace, `""` for cluster-scoped objects.
    pub fn namespace(&self) -> &str {
        self.object["metadata"]["namespace"].as_str().unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
}

/// A mutating/validating admission step, run on every create and update (client requests and
/// controllers' writes alike) before the object is stored.
pub trait Admission: Send + Sync + 'static {
    /// Called on create (old = None) and update (old = Some) before the object is stored: may mutate or reject.
    /// Called for client requests and for controllers' writes alike.
    fn admit(
        &self,
        store: &Store,
        op: Op,
        resource: &str,
        obj: &mut Object,
        old: Option<&Object>,
    ) -> Result<(), ApiError>;
}

/// The store. Cheap to clone (an `Arc` inside); all methods are synchronous and thread-safe.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    events: broadcast::Sender<StoreEvent>,
    admissions: RwLock<Vec<Arc<dyn Admission>>>,
    /// How long the namespace controller takes to get to a terminating namespace's content (milliseconds).
    namespace_teardown_delay_ms: std::sync::atomic::AtomicU64,
}

/// (resource plural, namespace or "", name)
type Key = (String, String, String);

struct State {
    objects: BTreeMap<Key, Object>,
    revision: u64,
    history: VecDeque<StoreEvent>,
    history_limit: usize,
    /// Highest revision whose event was dropped from `history`: watches must start at or after it.
    compacted: u64,
}

/// The state of the store at one revision, with a subscription to every later change.
pub struct Snapshot {
    pub objects: Vec<Object>,
    pub resource_version: u64,
    pub receiver: broadcast::Receiver<StoreEvent>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    pub fn new() -> Self {
        Store::with_history_limit(DEFAULT_HISTORY)
    }

    /// A store whose watch history keeps the last `history_limit` events.
    pub fn with_history_limit(history_limit: usize) -> Self {
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        Store {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    objects: BTreeMap::new(),
                    revision: 1,
                    history: VecDeque::new(),
                    history_limit: history_limit.max(1),
                    compacted: 0,
                }),
                events,
                admissions: RwLock::new(Vec::new()),
                namespace_teardown_delay_ms: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every mutation is a single insert/remove).
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Object> {
        let key = key(resource, namespace, name);
        self.state().objects.get(&key).cloned()
    }

    /// Objects of `resource`, in one namespace or (namespace None) in all; sorted by namespace/name.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Object> {
        list_locked(&self.state(), resource, namespace)
    }

    /// Like [`Store::list`] with the resourceVersion the list is consistent with.
    pub fn list_with_version(&self, resource: &str, namespace: Option<&str>) -> (Vec<Object>, u64) {
        let state = self.state();
        (list_locked(&state, resource, namespace), state.revision)
    }

    /// The current resourceVersion of the whole store.
    pub fn resource_version(&self) -> u64 {
        self.state().revision
    }

    pub fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.inner.events.subscribe()
    }

    /// Current objects of `resource` plus a subscription that sees every later change, atomically.
    pub fn snapshot(&self, resource: &str, namespace: Option<&str>) -> Snapshot {
        let state = self.state();
        Snapshot {
            objects: list_locked(&state, resource, namespace),
            resource_version: state.revision,
            receiver: self.inner.events.subscribe(),
        }
    }

    /// Every event after `resource_version` still in the history plus a subscription for later ones,
    /// atomically; `410 Expired` when events after `resource_version` were already dropped.
    /// upstream: staging/src/k8s.io/apiserver/pkg/storage/cacher/watch_cache.go (getAllEventsSinceLocked).
    pub fn events_since(
        &self,
        resource_version: u64,
    ) -> Result<(Vec<StoreEvent>, broadcast::Receiver<StoreEvent>), ApiError> {
        let state = self.state();
        if resource_version < state.compacted {
            return Err(ApiError::gone(&format!(
                "too old resource version: {resource_version} ({})",
                state.compacted
            )));
        }
        let events = state
            .history
            .iter()
            .filter(|e| e.resource_version() > resource_version)
            .cloned()
            .collect();
        Ok((events, self.inner.events.subscribe()))
    }

    /// Forgets the watch history (like an etcd compaction): watches from older versions get 410.
    pub fn compact(&self) {
        let mut state = self.state();
        state.history.clear();
        state.compacted = state.revision;
    }

    pub fn add_admission(&self, admission: Arc<dyn Admission>) {
        self.inner
            .admissions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(admission);
    }

    fn admit(
        &self,
        op: Op,
        resource: &str,
        obj: &mut Object,
        old: Option<&Object>,
    ) -> Result<(), ApiError> {
        let chain: Vec<Arc<dyn Admission>> = self
            .inner
            .admissions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        for admission in chain {
            admission.admit(self, op, resource, obj, old)?;
        }
        Ok(())
    }

    /// Creates an object. `namespace` (for namespaced resources) wins over an empty
    /// `metadata.namespace`; a different one is a 400 as upstream.
    /// A create with `dryRun=All`: validated and admitted as [`Store::create`] does, then not stored
    /// (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/dryrun.go). Only for resources whose
    /// admission has no side effects the dry run would have to undo (pods).
    pub fn create_dry_run(
        &self,
        resource: &str,
        namespace: Option<&str>,
        obj: Object,
    ) -> Result<Object, ApiError> {
        let def = served(resource)?;
        let mut obj = obj;
        let meta = metadata_mut(&mut obj)?;
        let namespace = scope_namespace(def, namespace, meta)?;
        let name = meta_str(meta, "name");
        if name.is_empty() {
            return Err(name_required(def));
        }
        if let Some(ns) = namespace.as_deref() {
            self.check_namespace_open(resource, &name, ns)?;
        }
        prepare_for_create(def, &mut obj);
        self.admit(Op::Create, resource, &mut obj, None)?;
        if self
            .state()
            .objects
            .contains_key(&key(resource, namespace.as_deref(), &name))
        {
            return Err(ApiError::already_exists(resource, &name));
        }
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
            && let Some(ns) = &namespace
        {
            meta.insert("namespace".into(), json!(ns));
        }
        set_type_meta(def, &mut obj);
        Ok(obj)
    }

    pub fn create(
        &self,
        resource: &str,
        namespace: Option<&str>,
        obj: Object,
    ) -> Result<Object, ApiError> {
        let def = served(resource)?;
        let mut obj = obj;
        let meta = metadata_mut(&mut obj)?;
        let namespace = scope_namespace(def, namespace, meta)?;
        if meta
            .get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| !rv.is_empty())
        {
            // upstream: staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go Create
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let generate_name = meta_str(meta, "generateName");
        let name = meta_str(meta, "name");
        if name.is_empty() && generate_name.is_empty() {
            return Err(name_required(def));
        }
        if let Some(ns) = namespace.as_deref() {
            self.check_namespace_open(resource, &name, ns)?;
        }
        prepare_for_create(def, &mut obj);
        self.admit(Op::Create, resource, &mut obj, None)?;

        let mut state = self.state();
        let name = if name.is_empty() {
            // upstream: staging/src/k8s.io/apiserver/pkg/storage/names/generate.go (5 random chars)
            let mut candidate;
            loop {
                candidate = format!("{generate_name}{}", random_suffix());
                if !state
                    .objects
                    .contains_key(&key(resource, namespace.as_deref(), &candidate))
                {
                    break;
                }
            }
            candidate
        } else {
            name
        };
        let k = key(resource, namespace.as_deref(), &name);
        if let Some(existing) = state.objects.get(&k) {
            let mut err = ApiError::already_exists(resource, &name);
            if !existing["metadata"]["deletionTimestamp"].is_null() {
                // upstream: staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go (Create)
                err.message = format!("object is being deleted: {}", err.message);
            }
            return Err(err);
        }
        let revision = state.revision + 1;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), json!(name));
            if let Some(ns) = &namespace {
                meta.insert("namespace".into(), json!(ns));
            }
            meta.insert("uid".into(), json!(new_uid()));
            meta.insert("resourceVersion".into(), json!(revision.to_string()));
            meta.insert("creationTimestamp".into(), json!(crate::model::time::now()));
            meta.remove("deletionTimestamp");
            meta.remove("deletionGracePeriodSeconds");
        }
        set_type_meta(def, &mut obj);
        state.objects.insert(k, obj.clone());
        self.publish(
            &mut state,
            revision,
            EventType::Added,
            def.plural,
            obj.clone(),
        );
        Ok(obj)
    }

    /// Replaces an object (spec and metadata); keeps the stored `status` when the resource has a
    /// status subresource. A stale `metadata.resourceVersion` is a 409 Conflict.
    pub fn update(
        &self,
        resource: &str,
        namespace: Option<&str>,
        obj: Object,
    ) -> Result<Object, ApiError> {
        self.update_with(resource, namespace, obj, false)
    }

    /// Changes only `status` (metadata and spec stay as stored).
    pub fn update_status(
        &self,
        resource: &str,
        namespace: Option<&str>,
        obj: Object,
    ) -> Result<Object, ApiError> {
        self.update_with(resource, namespace, obj, true)
    }

    fn update_with(
        &self,
        resource: &str,
        namespace: Option<&str>,
        obj: Object,
        status_only: bool,
    ) -> Result<Object, ApiError> {
        let def = served(resource)?;
        let mut incoming = obj;
        let meta = metadata_mut(&mut incoming)?;
        let namespace = scope_namespace(def, namespace, meta)?;
        let name = meta_str(meta, "name");
        if name.is_empty() {
            return Err(name_required(def));
        }
        let wanted_version = meta_str(meta, "resourceVersion");
        let k = key(resource, namespace.as_deref(), &name);

        // Admission runs without the lock (it may read the store); retry if the object changed meanwhile.
        loop {
            let Some(old) = self.state().objects.get(&k).cloned() else {
                return Err(ApiError::not_found(resource, &name));
            };
            let old_version = old["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if !wanted_version.is_empty() && wanted_version != old_version {
                return Err(ApiError::stale_resource_version(resource, &name));
            }
            let mut obj = if status_only {
                prepare_for_status_update(&old, &incoming)
            } else {
                prepare_for_update(def, &old, incoming.clone())?
            };
            self.admit(Op::Update, resource, &mut obj, Some(&old))?;

            let mut state = self.state();
            let current_version = state
                .objects
                .get(&k)
                .map(|o| o["metadata"]["resourceVersion"].clone());
            if current_version.as_ref() != Some(&old["metadata"]["resourceVersion"]) {
                continue;
            }
            set_type_meta(def, &mut obj);
            if obj == old {
                // A no-op update neither bumps the resourceVersion nor emits an event (as upstream).
                return Ok(old);
            }
            let revision = state.revision + 1;
            set_resource_version(&mut obj, revision);
            let deleting = !obj["metadata"]["deletionTimestamp"].is_null();
            if deleting && finalizers(&obj).is_empty() && !has_spec_finalizers(&obj) {
                return Ok(self.remove_for_good(
                    state,
                    revision,
                    def,
                    namespace.as_deref(),
                    &k,
                    obj,
                ));
            }
            state.objects.insert(k, obj.clone());
            self.publish(
                &mut state,
                revision,
                EventType::Modified,
                def.plural,
                obj.clone(),
            );
            return Ok(obj);
        }
    }

    /// Deletes an object, or marks it deleted (`deletionTimestamp`) while `metadata.finalizers`
    /// remain; deleting a namespace terminates it (see module docs). Returns the object's last state.
    pub fn delete(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Object, ApiError> {
        let def = served(resource)?;
        let namespace = if def.namespaced { namespace } else { None };
        let k = key(resource, namespace, name);
        let mut state = self.state();
        let Some(old) = state.objects.get(&k).cloned() else {
            return Err(ApiError::not_found(resource, name));
        };
        if !old["metadata"]["deletionTimestamp"].is_null() {
            // Already being deleted: a repeated delete changes nothing.
            return Ok(old);
        }
        let revision = state.revision + 1;
        if def.plural == "namespaces" {
            let mut obj = old;
            mark_deleted(&mut obj, revision);
            obj["status"]["phase"] = json!("Terminating");
            state.objects.insert(k, obj.clone());
            self.publish(
                &mut state,
                revision,
                EventType::Modified,
                def.plural,
                obj.clone(),
            );
            drop(state);
            let delay = self.namespace_teardown_delay();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) if !delay.is_zero() => {
                    let store = self.clone();
                    let name = name.to_string();
                    runtime.spawn(async move {
                        tokio::time::sleep(delay).await;
                        store.terminate_namespace(&name);
                    });
                }
                _ => self.terminate_namespace(name),
            }
            return Ok(self.get("namespaces", None, name).unwrap_or(obj));
        }
        if !finalizers(&old).is_empty() {
            let mut obj = old;
            mark_deleted(&mut obj, revision);
            state.objects.insert(k, obj.clone());
            self.publish(
                &mut state,
                revision,
                EventType::Modified,
                def.plural,
                obj.clone(),
            );
            return Ok(obj);
        }
        let mut obj = old;
        set_resource_version(&mut obj, revision);
        Ok(self.remove_for_good(state, revision, def, namespace, &k, obj))
    }

    /// Deletes every namespaced object of namespace `ns` (objects with finalizers stay, marked),
    /// then finalizes the namespace when it is empty.
    /// upstream: pkg/controller/namespace/deletion/namespaced_resources_deleter.go
    /// A loaded control plane: the namespace controller deletes a terminating namespace's content only
    /// after `delay` (upstream: pkg/controller/namespace/deletion works through every resource of the
    /// namespace from a queue; finalizers such as `service.kubernetes.io/load-balancer-cleanup` hold more).
    pub fn set_namespace_teardown_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .namespace_teardown_delay_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn namespace_teardown_delay(&self) -> Duration {
        Duration::from_millis(
            self.inner
                .namespace_teardown_delay_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    fn terminate_namespace(&self, ns: &str) {
        for def in resources::RESOURCES.iter().filter(|d| d.namespaced) {
            for obj in self.list(def.plural, Some(ns)) {
                if let Some(name) = obj["metadata"]["name"].as_str() {
                    // NotFound here means a concurrent delete won the race: nothing left to do.
                    let _ = self.delete(def.plural, Some(ns), name);
                }
            }
        }
        self.finalize_namespace_if_empty(ns);
    }

    /// Follow-ups of an object leaving the store: garbage-collect dependents whose owners are all
    /// gone, and finish a terminating namespace that became empty.
    /// Removes the object at `k` for good: its final state goes to watchers, then (unlocked) its dependents follow.
    fn remove_for_good(
        &self,
        mut state: MutexGuard<'_, State>,
        revision: u64,
        def: &ResourceDef,
        namespace: Option<&str>,
        k: &Key,
        obj: Object,
    ) -> Object {
        state.objects.remove(k);
        self.publish(
            &mut state,
            revision,
            EventType::Deleted,
            def.plural,
            obj.clone(),
        );
        drop(state);
        self.after_removal(def, namespace, &obj);
        obj
    }

    fn after_removal(&self, def: &ResourceDef, namespace: Option<&str>, removed: &Object) {
        if let Some(uid) = removed["metadata"]["uid"].as_str() {
            self.collect_garbage(uid);
        }
        if let Some(ns) = namespace.filter(|_| def.namespaced) {
            self.finalize_namespace_if_empty(ns);
        }
    }

    /// Deletes objects owned by `owner_uid` that have no other live owner (background propagation).
    /// upstream: pkg/controller/garbagecollector/garbagecollector.go (attemptToDeleteItem)
    fn collect_garbage(&self, owner_uid: &str) {
        let dependents: Vec<(&'static str, Object)> = {
            let state = self.state();
            state
                .objects
                .iter()
                .filter(|(_, o)| owner_uids(o).iter().any(|u| u == owner_uid))
                .filter_map(|((r, _, _), o)| resources::find(r).map(|d| (d.plural, o.clone())))
                .collect()
        };
        for (plural, dependent) in dependents {
            let others_alive = owner_uids(&dependent)
                .iter()
                .any(|u| u != owner_uid && self.uid_exists(u));
            if others_alive {
                continue;
            }
            let name = dependent["metadata"]["name"].as_str().unwrap_or("");
            let ns = dependent["metadata"]["namespace"].as_str();
            // NotFound: someone else deleted it first.
            let _ = self.delete(plural, ns, name);
        }
    }

    fn uid_exists(&self, uid: &str) -> bool {
        self.state()
            .objects
            .values()
            .any(|o| o["metadata"]["uid"].as_str() == Some(uid))
    }

    /// Removes `owner`'s ownerReferences from its dependents (DELETE with propagationPolicy=Orphan).
    pub fn orphan_dependents(&self, owner: &Object) {
        let Some(owner_uid) = owner["metadata"]["uid"].as_str() else {
            return;
        };
        let dependents: Vec<(&'static str, Object)> = {
            let state = self.state();
            state
                .objects
                .iter()
                .filter(|(_, o)| owner_uids(o).iter().any(|u| u == owner_uid))
                .filter_map(|((r, _, _), o)| resources::find(r).map(|d| (d.plural, o.clone())))
                .collect()
        };
        for (plural, mut dependent) in dependents {
            if let Some(refs) = dependent["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"].as_str() != Some(owner_uid));
            }
            let ns = dependent["metadata"]["namespace"]
                .as_str()
                .map(str::to_string);
            // A conflict means a concurrent writer; the reference then stays (as a GC race would).
            let _ = self.update(plural, ns.as_deref(), dependent);
        }
    }

    /// `PUT /api/v1/namespaces/<name>/finalize`: replaces the namespace's `spec.finalizers`.
    /// upstream: pkg/registry/core/namespace/storage/storage.go (FinalizeREST)
    pub fn finalize_namespace(
        &self,
        name: &str,
        spec_finalizers: Vec<String>,
    ) -> Result<Object, ApiError> {
        let mut state = self.state();
        let k = key("namespaces", None, name);
        let Some(mut obj) = state.objects.get(&k).cloned() else {
            return Err(ApiError::not_found("namespaces", name));
        };
        let revision = state.revision + 1;
        obj["spec"]["finalizers"] = json!(spec_finalizers);
        set_resource_version(&mut obj, revision);
        let deleting = !obj["metadata"]["deletionTimestamp"].is_null();
        if deleting && spec_finalizers.is_empty() && finalizers(&obj).is_empty() {
            state.objects.remove(&k);
            self.publish(
                &mut state,
                revision,
                EventType::Deleted,
                "namespaces",
                obj.clone(),
            );
        } else {
            state.objects.insert(k, obj.clone());
            self.publish(
                &mut state,
                revision,
                EventType::Modified,
                "namespaces",
                obj.clone(),
            );
        }
        Ok(obj)
    }

    /// Removes the `kubernetes` spec finalizer of a terminating, empty namespace; the namespace
    /// disappears when no metadata finalizers remain.
    fn finalize_namespace_if_empty(&self, ns: &str) {
        let mut state = self.state();
        let k = key("namespaces", None, ns);
        let Some(namespace) = state.objects.get(&k).cloned() else {
            return;
        };
        if namespace["metadata"]["deletionTimestamp"].is_null() {
            return;
        }
        let has_content = state
            .objects
            .keys()
            .any(|(_, object_ns, _)| object_ns == ns);
        if has_content {
            return;
        }
        let revision = state.revision + 1;
        let mut obj = namespace;
        obj["spec"]["finalizers"] = json!([]);
        set_resource_version(&mut obj, revision);
        if finalizers(&obj).is_empty() {
            state.objects.remove(&k);
            self.publish(&mut state, revision, EventType::Deleted, "namespaces", obj);
        } else {
            state.objects.insert(k, obj.clone());
            self.publish(&mut state, revision, EventType::Modified, "namespaces", obj);
        }
    }

    /// Namespace lifecycle admission: the namespace must exist and not be terminating.
    /// upstream: plugin/pkg/admission/namespace/lifecycle/admission.go
    fn check_namespace_open(&self, resource: &str, name: &str, ns: &str) -> Result<(), ApiError> {
        match self.get("namespaces", None, ns) {
            None => Err(ApiError::not_found("namespaces", ns)),
            Some(namespace)
                if !namespace["metadata"]["deletionTimestamp"].is_null()
                    || namespace["status"]["phase"] == "Terminating" =>
            {
                Err(ApiError::namespace_terminating(resource, name, ns))
            }
            Some(_) => Ok(()),
        }
    }

    fn publish(
        &self,
        state: &mut State,
        revision: u64,
        kind: EventType,
        resource: &'static str,
        object: Object,
    ) {
        state.revision = revision;
        let event = StoreEvent {
            kind,
            resource,
            object,
        };
        state.history.push_back(event.clone());
        while state.history.len() > state.history_limit {
            if let Some(dropped) = state.history.pop_front() {
                state.compacted = dropped.resource_version();
            }
        }
        // No receivers is fine: nobody watches.
        let _ = self.inner.events.send(event);
    }
}

fn served(resource: &str) -> Result<&'static ResourceDef, ApiError> {
    resources::find(resource).ok_or_else(|| {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    })
}

fn key(resource: &str, namespace: Option<&str>, name: &str) -> Key {
    let scoped = resources::find(resource)
        .map(|d| d.namespaced)
        .unwrap_or(true);
    let ns = if scoped { namespace.unwrap_or("") } else { "" };
    (resource.to_string(), ns.to_string(), name.to_string())
}

fn list_locked(state: &State, resource: &str, namespace: Option<&str>) -> Vec<Object> {
    state
        .objects
        .iter()
        .filter(|((r, ns, _), _)| r == resource && namespace.is_none_or(|want| want == ns))
        .map(|(_, o)| o.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_ns(ns: &str) -> Store {
        let store = Store::new();
        store
            .create("namespaces", None, json!({"metadata": {"name": ns}}))
            .unwrap();
        store
    }

    fn cm(name: &str) -> Object {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})
    }

    #[test]
    fn create_sets_system_fields_and_rejects_duplicates() {
        let store = store_with_ns("t");
        let created = store.create("configmaps", Some("t"), cm("a")).unwrap();
        assert_eq!(created["metadata"]["namespace"], "t");
        assert_eq!(created["metadata"]["uid"].as_str().unwrap().len(), 36);
        assert!(resource_version_of(&created).unwrap() > 1);
        let err = store.create("configmaps", Some("t"), cm("a")).unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
        let err = store
            .create("configmaps", Some("missing"), cm("a"))
            .unwrap_err();
        assert_eq!(err.message, "namespaces \"missing\" not found");
    }

    #[test]
    fn stale_update_conflicts_and_noop_update_keeps_version() {
        let store = store_with_ns("t");
        let created = store.create("configmaps", Some("t"), cm("a")).unwrap();
        let same = store
            .update("configmaps", Some("t"), created.clone())
            .unwrap();
        assert_eq!(
            same["metadata"]["resourceVersion"],
            created["metadata"]["resourceVersion"]
        );
        let mut changed = created.clone();
        changed["data"]["a"] = json!("2");
        store
            .update("configmaps", Some("t"), changed.clone())
            .unwrap();
        let err = store.update("configmaps", Some("t"), changed).unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    }

    #[test]
    fn finalizers_hold_deletion() {
        let store = store_with_ns("t");
        let mut obj = cm("a");
        obj["metadata"]["finalizers"] = json!(["example.com/hold"]);
        store.create("configmaps", Some("t"), obj).unwrap();
        let marked = store.delete("configmaps", Some("t"), "a").unwrap();
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        let mut released = store.get("configmaps", Some("t"), "a").unwrap();
        released["metadata"]["finalizers"] = json!([]);
        store.update("configmaps", Some("t"), released).unwrap();
        assert!(store.get("configmaps", Some("t"), "a").is_none());
    }

    #[test]
    fn namespace_termination_waits_for_finalized_content() {
        let store = store_with_ns("t");
        let mut held = cm("held");
        held["metadata"]["finalizers"] = json!(["example.com/hold"]);
        store.create("configmaps", Some("t"), held).unwrap();
        store.create("configmaps", Some("t"), cm("plain")).unwrap();
        let ns = store.delete("namespaces", None, "t").unwrap();
        assert_eq!(ns["status"]["phase"], "Terminating");
        assert!(store.get("configmaps", Some("t"), "plain").is_none());
        let err = store
            .create("configmaps", Some("t"), cm("new"))
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
        let mut released = store.get("configmaps", Some("t"), "held").unwrap();
        released["metadata"]["finalizers"] = json!([]);
        store.update("configmaps", Some("t"), released).unwrap();
        assert!(store.get("namespaces", None, "t").is_none());
    }

    #[test]
    fn history_expires() {
        let store = Store::with_history_limit(2);
        store
            .create("namespaces", None, json!({"metadata": {"name": "a"}}))
            .unwrap();
        let first = store.resource_version();
        for n in ["b", "c", "d"] {
            store
                .create("namespaces", None, json!({"metadata": {"name": n}}))
                .unwrap();
        }
        assert_eq!(store.events_since(first).unwrap_err().code, 410);
        let (events, _) = store.events_since(store.resource_version() - 1).unwrap();
        assert_eq!(events.len(), 1);
    }
}
