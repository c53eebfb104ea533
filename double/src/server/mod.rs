//! The HTTP face of the test double: routing, discovery, CRUD, watch, patch, logs and exec.
//!
//! Plain HTTP/1.1 on 127.0.0.1; JSON only (clients that also accept protobuf get JSON, as a real
//! server does for types without a protobuf encoding).

mod crud;
mod discovery;
mod exec;
mod logs;
mod patch;
mod protobuf;
mod route;
mod selector;
mod table;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

use crate::DoubleConfig;
use crate::api_error::ApiError;
use crate::fault::{FaultInjector, InjectedFailure};
use crate::runtime::ContainerRuntime;
use crate::store::Store;
use route::{Query, Route};

pub use discovery::version_info;

/// Largest request body accepted (upstream's limit is 3 MiB for most requests).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Everything a request handler needs.
pub(crate) struct AppState {
    pub store: Store,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub config: DoubleConfig,
    pub faults: FaultInjector,
    pub shutdown: signal::Receiver<bool>,
}

/// A running server task.
pub(crate) struct ServerHandle {
    stop: signal::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(3), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    pub fn abort(self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

pub(crate) fn spawn(
    listener: tokio::net::TcpListener,
    store: Store,
    runtime: Arc<dyn ContainerRuntime>,
    config: DoubleConfig,
) -> ServerHandle {
    let (stop, shutdown) = signal::channel(false);
    let faults = FaultInjector::new(config.faults.clone());
    let state = Arc::new(AppState {
        store,
        runtime,
        config,
        faults,
        shutdown: shutdown.clone(),
    });
    let app = Router::new().fallback(dispatch).with_state(state);
    let mut stopped = shutdown;
    let task = tokio::spawn(async move {
        // Go's net/http (the real apiserver) sets TCP_NODELAY on every connection; without it small watch
        // frames wait for delayed ACKs (~20-40 ms on loopback).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        // An accept error ends the server; clients then see connection refused, as with a dead apiserver.
        let _ = serve.await;
    });
    ServerHandle { stop, task }
}

async fn dispatch(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let latency = state.config.faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let path = request.uri().path().to_string();
    let query = Query::parse(request.uri().query());
    let mut response = match route::route(&path) {
        Route::Version => match version_info(&state.config.server_version) {
            Ok(info) => json_response(StatusCode::OK, &info),
            Err(why) => error_response(&ApiError::internal(&why)),
        },
        Route::Health(check) => {
            // upstream: staging/src/k8s.io/apiserver/pkg/server/healthz/healthz.go (verbose output)
            let body = if query.flag("verbose")
                || request.uri().query().is_some_and(|q| q.contains("verbose"))
            {
                format!(
                    "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]poststarthook/start-apiserver ok\n{check} check passed\n"
                )
            } else {
                "ok".to_string()
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                body,
            )
                .into_response()
        }
        Route::ApiVersions => {
            json_response(StatusCode::OK, &discovery::api_versions(request.headers()))
        }
        Route::ApiGroupList => json_response(StatusCode::OK, &discovery::api_group_list()),
        Route::ApiGroup(group) => json_response(StatusCode::OK, &discovery::api_group(&group)),
        Route::ResourceList { group, version } => {
            json_response(StatusCode::OK, &discovery::resource_list(&group, &version))
        }
        Route::OpenApiV3Root => json_response(
            StatusCode::OK,
            &discovery::openapi_v3_root(&state.config.server_version),
        ),
        Route::OpenApiV3Doc(gv) => {
            match discovery::openapi_v3_doc(&gv, &state.config.server_version) {
                Some(doc) => json_response(StatusCode::OK, &doc),
                None => plain_not_found(),
            }
        }
        Route::OpenApiV2 => plain_not_found(),
        Route::ApiNotFound => error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
        Route::NotFound => plain_not_found(),
        Route::Resource(target) => {
            let watching = target.watch_prefix || query.flag("watch");
            if !watching && let Some(failure) = state.faults.next_failure() {
                return injected_failure(failure);
            }
            crud::handle(state.clone(), target, query, request).await
        }
    };
    add_common_headers(response.headers_mut());
    response
}

/// Headers every upstream response carries.
fn add_common_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    if let Ok(id) = HeaderValue::from_str(&crate::store::meta::new_uid()) {
        headers.insert("audit-id", id);
    }
}

/// Resolves once the server is shutting down.
pub(crate) async fn stopped(mut shutdown: signal::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

pub(crate) fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A `metav1.Status` failure with its HTTP code (and `Retry-After` for 429).
pub(crate) fn error_response(err: &ApiError) -> Response {
    let code = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(code, &err.to_status());
    if let Some(retry) = err
        .details
        .as_ref()
        .and_then(|d| d["retryAfterSeconds"].as_u64())
        && let Ok(value) = HeaderValue::from_str(&retry.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn plain_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

fn injected_failure(failure: InjectedFailure) -> Response {
    match failure {
        // upstream: staging/src/k8s.io/apiserver/pkg/server/filters/maxinflight.go (tooManyRequests)
        InjectedFailure::TooManyRequests => error_response(&ApiError::too_many_requests(
            "Too many requests, please try again later. (netconform-double injected fault)",
            1,
        )),
        InjectedFailure::InternalError => {
            error_response(&ApiError::internal("netconform-double injected fault"))
        }
        InjectedFailure::ConnectionReset => {
            // Headers go out, then the body fails: hyper aborts the connection mid-response.
            let broken = futures::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "netconform-double injected connection reset",
                ))
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(broken),
            )
                .into_response()
        }
    }
}
