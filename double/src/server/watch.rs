//! Watch streams: newline-delimited JSON `{"type":"ADDED","object":{...}}`.
//!
//! resourceVersion semantics as the watch cache: unset or `0` start with synthetic ADDED events
//! for the current state; a specific version replays later events from the store's bounded
//! history, or answers a 410 `Expired` ERROR event when it is older than the history (clients then
//! re-list). `sendInitialEvents=true` (streaming lists) sends the current state, then a BOOKMARK
//! annotated `k8s.io/initial-events-end`. `allowWatchBookmarks` adds periodic BOOKMARKs.
//! upstream: staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go (Watch),
//! staging/src/k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go,
//! staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go (ValidateListOptions).

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::route::{Query, ResourceTarget};
use super::selector::Selectors;
use super::table::{self, IncludeObject};
use super::{AppState, error_response};
use crate::Object;
use crate::api_error::{ApiError, Cause};
use crate::store::{EventType, StoreEvent};

/// Upstream picks a random timeout in [minRequestTimeout, 2*minRequestTimeout) (30-60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Where a watch starts.
enum Start {
    /// Current state as ADDED events; with a closing initial-events-end bookmark when `true`.
    Snapshot { initial_events_end: bool },
    /// Only events after this resourceVersion.
    After(u64),
}

/// How a watch was asked for.
pub(crate) struct WatchRequest {
    pub target: ResourceTarget,
    pub selectors: Selectors,
    pub representation: Representation,
}

/// What each event's object is.
pub(crate) enum Representation {
    Object,
    /// Table watch (`kubectl get -w`): a one-row Table.
    Table(IncludeObject),
    /// Metadata watch: `PartialObjectMetadata`.
    Metadata,
}

pub(crate) fn watch(state: Arc<AppState>, request: WatchRequest, query: &Query) -> Response {
    let bookmarks = query.flag("allowWatchBookmarks");
    let start = match start_of(query, bookmarks) {
        Ok(start) => start,
        Err(e) => return error_response(&e),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(run(state, request, start, bookmarks, timeout, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<Bytes, Infallible>(chunk), rx))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

fn start_of(query: &Query, bookmarks: bool) -> Result<Start, ApiError> {
    let resource_version = query.get("resourceVersion");
    if let Some(send_initial) = query.get("sendInitialEvents") {
        let mut causes = Vec::new();
        if query.get("resourceVersionMatch") != Some("NotOlderThan") {
            causes.push(Cause::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !bookmarks {
            causes.push(Cause::forbidden(
                "allowWatchBookmarks",
                "sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid("ListOptions.meta.k8s.io", "", causes));
        }
        if matches!(send_initial, "true" | "1") {
            return Ok(Start::Snapshot {
                initial_events_end: true,
            });
        }
    }
    match resource_version {
        None | Some("0") => Ok(Start::Snapshot {
            initial_events_end: false,
        }),
        Some(rv) => rv
            .parse::<u64>()
            .map(Start::After)
            .map_err(|_| ApiError::bad_request(&format!("invalid resource version: {rv}"))),
    }
}

/// Per-watch filtering; tracks which objects the client has been shown so selector transitions
/// become ADDED/DELETED as upstream's cache watcher does.
struct Filter {
    resource: &'static str,
    namespace: Option<String>,
    selectors: Selectors,
    has_selectors: bool,
    shown: HashSet<String>,
}

impl Filter {
    fn key(obj: &Object) -> String {
        format!(
            "{}/{}",
            obj["metadata"]["namespace"].as_str().unwrap_or(""),
            obj["metadata"]["name"].as_str().unwrap_or("")
        )
    }

    fn in_scope(&self, obj: &Object) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| obj["metadata"]["namespace"].as_str() == Some(ns))
    }

    /// The wire event for a store event, if this watch should see it.
    fn translate(&mut self, event: &StoreEvent) -> Option<&'static str> {
        if event.resource != self.resource || !self.in_scope(&event.object) {
            return None;
        }
        if !self.has_selectors {
            return Some(event.kind.as_str());
        }
        let key = Filter::key(&event.object);
        let matches = self.selectors.matches(&event.object);
        let shown = self.shown.contains(&key);
        match (event.kind, matches, shown) {
            (EventType::Added, true, _) | (EventType::Modified, true, false) => {
                self.shown.insert(key);
                Some("ADDED")
            }
            (EventType::Modified, true, true) => Some("MODIFIED"),
            (EventType::Modified, false, true)
            | (EventType::Deleted, _, true)
            | (EventType::Deleted, true, false) => {
                self.shown.remove(&key);
                Some("DELETED")
            }
            _ => None,
        }
    }
}

async fn run(
    state: Arc<AppState>,
    request: WatchRequest,
    start: Start,
    bookmarks: bool,
    timeout: Duration,
    tx: mpsc::Sender<Bytes>,
) {
    let def = request.target.def;
    let has_selectors = request.selectors.labels != Default::default()
        || request.selectors.fields != Default::default();
    let mut filter = Filter {
        resource: def.plural,
        namespace: request.target.namespace.clone(),
        selectors: request.selectors.clone(),
        has_selectors,
        shown: HashSet::new(),
    };
    let frame = |kind: &str, obj: &Object| -> Bytes {
        let object = match (&request.representation, kind) {
            // Errors stay Status objects whatever the representation.
            (_, "ERROR") | (Representation::Object, _) => obj.clone(),
            (Representation::Table(include), _) => {
                table::to_table(def, std::slice::from_ref(obj), None, *include)
            }
            (Representation::Metadata, _) => table::partial_metadata(obj),
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };
    let bookmark = |rv: u64, initial_end: bool| -> Bytes {
        let mut metadata =
            json!({"resourceVersion": rv.to_string(), "creationTimestamp": Value::Null});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": metadata});
        let mut line =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };

    let store = &state.store;
    let mut last_rv;
    let mut receiver: broadcast::Receiver<StoreEvent>;
    match start {
        Start::Snapshot { initial_events_end } => {
            let snapshot = store.snapshot(def.plural, request.target.namespace.as_deref());
            receiver = snapshot.receiver;
            last_rv = snapshot.resource_version;
            for obj in snapshot
                .objects
                .iter()
                .filter(|o| filter.selectors.matches(o))
            {
                filter.shown.insert(Filter::key(obj));
                if tx.send(frame("ADDED", obj)).await.is_err() {
                    return;
                }
            }
            if initial_events_end && tx.send(bookmark(last_rv, true)).await.is_err() {
                return;
            }
        }
        Start::After(rv) => match store.events_since(rv) {
            Ok((events, rx)) => {
                receiver = rx;
                last_rv = rv;
                if has_selectors {
                    // What the client was shown before `rv` is unknown: assume what matches now.
                    for obj in store.list(def.plural, request.target.namespace.as_deref()) {
                        if filter.selectors.matches(&obj) {
                            filter.shown.insert(Filter::key(&obj));
                        }
                    }
                }
                for event in events {
                    last_rv = last_rv.max(event.resource_version());
                    if let Some(kind) = filter.translate(&event)
                        && tx.send(frame(kind, &event.object)).await.is_err()
                    {
                        return;
                    }
                }
            }
            Err(expired) => {
                // upstream sends the 410 as an ERROR event on a 200 stream (cacher newErrWatcher).
                let _ = tx.send(frame("ERROR", &expired.to_status())).await;
                return;
            }
        },
    }

    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let drop_after = state
        .config
        .faults
        .watch_drop_after
        .unwrap_or(Duration::MAX / 4);
    let dropped = tokio::time::sleep(drop_after);
    tokio::pin!(dropped);
    let mut ticker = tokio::time::interval(
        state
            .config
            .bookmark_interval
            .max(Duration::from_millis(10)),
    );
    ticker.tick().await;
    let shutdown = super::stopped(state.shutdown.clone());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            received = receiver.recv() => match received {
                Ok(event) => {
                    let rv = event.resource_version();
                    if rv <= last_rv {
                        continue;
                    }
                    last_rv = rv;
                    if let Some(kind) = filter.translate(&event)
                        && tx.send(frame(kind, &event.object)).await.is_err()
                    {
                        return;
                    }
                }
                // Too slow a consumer: end the watch; the client resumes from its last version.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick(), if bookmarks => {
                if tx.send(bookmark(last_rv, false)).await.is_err() {
                    return;
                }
            }
            _ = &mut deadline => return,
            _ = &mut dropped => return,
            _ = &mut shutdown => return,
            _ = tx.closed() => return,
        }
    }
}
