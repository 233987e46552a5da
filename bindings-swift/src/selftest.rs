//! Test hooks (`selftest*`) that exercise the plumbing before the real API
//! exists: the error table, an async call on the shared runtime, and a foreign
//! listener called from it. The real API uses the same three patterns.

use std::sync::Arc;
use std::time::Duration;

use usher_core::error::{Error, ErrorDetails, ErrorKind, FilterProblem};
use usher_core::protocol::FilterResult;

use crate::{UsherError, runtime};

/// A core error of the kind named by `code`, with the details that kind
/// carries in real use (`INVALID_ARGUMENT` for an unknown code).
fn sample(code: &str) -> Error {
    let Some(kind) = ErrorKind::ALL.into_iter().find(|k| k.code() == code) else {
        return Error::invalid_argument("code", format!("unknown error code {code:?}"));
    };
    match kind {
        ErrorKind::AccessDenied => Error::access_denied("MODIFY_SESSION"),
        ErrorKind::InvalidFilter => Error::invalid_filter(vec![FilterProblem {
            line: 1,
            column: 14,
            message: "expected a quoted string after 'is'".into(),
        }]),
        ErrorKind::InvalidArgument => Error::invalid_argument("roles", "both role sets are empty"),
        ErrorKind::LimitExceeded => Error::limit("max_targets", "too many sessions"),
        ErrorKind::ClusterRouting => {
            let result = FilterResult { total: 3, unreachable: vec!["b".into()], ..FilterResult::default() };
            Error::new(kind, "a member did not answer").with_details(ErrorDetails::Result(Box::new(result)))
        }
        _ => Error::new(kind, format!("a sample {code} error")),
    }
}

/// Throws the mapped error for `code`.
#[uniffi::export]
pub fn selftest_raise(code: String) -> Result<(), UsherError> {
    Err(sample(&code).into())
}

/// After `millis` on the shared runtime: `[value, name of the runtime thread]`.
#[uniffi::export]
pub async fn selftest_echo_after(value: String, millis: u64) -> Result<Vec<String>, UsherError> {
    runtime::run(async move {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(vec![value, std::thread::current().name().unwrap_or("").to_owned()])
    })
    .await
}

/// Fails with the mapped error for `code` after `millis`.
#[uniffi::export]
pub async fn selftest_fail_after(code: String, millis: u64) -> Result<(), UsherError> {
    let err = sample(&code);
    runtime::run(async move {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Err::<(), _>(err)
    })
    .await
}

/// A listener the foreign side implements (Swift protocol, Python class), the
/// shape session and queue event listeners will take.
#[uniffi::export(foreign)]
#[async_trait::async_trait]
pub trait SelftestListener: Send + Sync {
    /// Called synchronously, from a runtime thread.
    fn on_value(&self, value: String);
    /// Called and awaited from a runtime task (an `async` foreign method).
    async fn on_value_async(&self, value: String);
}

/// Calls `listener.onValue` then `listener.onValueAsync` for each value from a
/// task on the shared runtime; returns how many values were delivered.
#[uniffi::export]
pub async fn selftest_deliver(
    listener: Arc<dyn SelftestListener>,
    values: Vec<String>,
) -> Result<u32, UsherError> {
    runtime::run(async move {
        let mut delivered = 0u32;
        for value in values {
            let l = listener.clone();
            let v = value.clone();
            // Foreign code may block: keep it off the async workers.
            tokio::task::spawn_blocking(move || l.on_value(v))
                .await
                .map_err(|e| Error::new(ErrorKind::Internal, format!("listener panicked: {e}")))?;
            listener.on_value_async(value).await;
            delivered += 1;
        }
        Ok(delivered)
    })
    .await
}
