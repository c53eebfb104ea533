//! Retrying transient API errors with backoff (backon, the maintained successor of `backoff`).
//!
//! Transient: 429, 5xx except the 500s that carry meaning (`failed to allocate a serviceIP: range is full`),
//! connection resets and other transport errors. Everything else surfaces at once.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// 500s whose message is the answer, not a glitch: retrying would hide the behaviour under test.
const MEANINGFUL_500S: &[&str] = &["range is full", "failed to allocate"];

pub fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => {
            let code = status.code;
            if code == 500 && MEANINGFUL_500S.iter().any(|m| status.message.contains(m)) {
                return false;
            }
            code == 429 || (500..=504).contains(&code)
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::HttpError(_) => true,
        // A body cut off mid-stream (connection reset) surfaces as a read or decode error.
        kube::Error::ReadEvents(_) => true,
        kube::Error::SerdeError(_) => true,
        _ => false,
    }
}

fn policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(8)
        .with_jitter()
}

/// Runs `call` until it succeeds, fails with a non-transient error, or the retries run out.
pub async fn retrying<T, F, Fut>(call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    call.retry(policy()).when(is_transient).await
}

/// Creates `obj` through `api`, retrying transient errors. A retry answered 409 found its own earlier
/// attempt (whose answer was lost): that counts as created, and `obj` is returned as sent.
pub async fn create_retrying<K>(api: &kube::Api<K>, obj: &K) -> Result<K, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let params = kube::api::PostParams::default();
    let mut attempts = 0;
    retrying(|| {
        attempts += 1;
        let first = attempts == 1;
        let params = &params;
        async move {
            match api.create(params, obj).await {
                Err(kube::Error::Api(s)) if s.code == 409 && !first => Ok(obj.clone()),
                other => other,
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(
            Status::failure(message, "InternalError").with_code(code),
        ))
    }

    #[test]
    fn classifies_codes() {
        assert!(is_transient(&api_error(429, "slow down")));
        assert!(is_transient(&api_error(500, "etcdserver: leader changed")));
        assert!(is_transient(&api_error(503, "unavailable")));
        assert!(!is_transient(&api_error(
            500,
            "failed to allocate a serviceIP: range is full"
        )));
        assert!(!is_transient(&api_error(404, "not found")));
        assert!(!is_transient(&api_error(422, "invalid")));
        assert!(!is_transient(&api_error(409, "conflict")));
    }

    #[tokio::test]
    async fn retries_until_success() {
        let mut calls = 0;
        let out = retrying(|| {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(api_error(503, "unavailable"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(out.unwrap(), 3);
    }

    #[tokio::test]
    async fn surfaces_meaningful_errors_at_once() {
        let mut calls = 0;
        let out: Result<(), _> = retrying(|| {
            calls += 1;
            async { Err(api_error(404, "gone")) }
        })
        .await;
        assert!(out.is_err());
        assert_eq!(calls, 1);
    }
}
