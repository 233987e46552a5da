//! Test hooks (`_raise`, `_echoAfter`, `_failAfter`, `_deliver`) that
//! exercise the plumbing before the real API exists: the error table, a
//! promise settled from the shared runtime, and a listener called back from
//! it. The real API uses the same three patterns.

use std::time::Duration;

use napi::bindgen_prelude::{Function, Object, PromiseRaw, Unknown};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, JsValue};
use napi_derive::napi;
use usher_core::error::{Error, ErrorDetails, ErrorKind, FilterProblem};
use usher_core::protocol::FilterResult;

use crate::error::CoreResultExt;
use crate::runtime;

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

/// Throws the mapped error for `code`, synchronously.
#[napi(js_name = "_raise")]
pub fn raise(env: Env, code: String) -> napi::Result<()> {
    Err(sample(&code)).or_throw(&env)
}

/// After a `millis` timer of the shared runtime: `[value, "usher-rt"]` when
/// the future was polled inside the shared runtime's context (it is polled
/// on the JS thread, see `runtime.rs`), `[value, ""]` if not.
#[napi(js_name = "_echoAfter", ts_return_type = "Promise<[string, string]>")]
pub fn echo_after(env: &Env, value: String, millis: u32) -> napi::Result<Object<'_>> {
    runtime::promise(env, async move {
        tokio::time::sleep(Duration::from_millis(millis.into())).await;
        let shared = usher_core::runtime::shared().id();
        let inside = tokio::runtime::Handle::try_current().is_ok_and(|h| h.id() == shared);
        Ok(vec![value, if inside { "usher-rt" } else { "" }.to_owned()])
    })
}

/// A promise rejected with the mapped error for `code` after `millis`.
#[napi(js_name = "_failAfter", ts_return_type = "Promise<void>")]
pub fn fail_after(env: &Env, code: String, millis: u32) -> napi::Result<Object<'_>> {
    let err = sample(&code);
    runtime::promise(env, async move {
        tokio::time::sleep(Duration::from_millis(millis.into())).await;
        Err::<(), _>(err)
    })
}

/// Calls `listener(value)` for each value from a runtime task, the way events
/// will be delivered, and resolves with how many calls succeeded. A listener
/// that throws, or returns a promise that rejects, is reported on stderr and
/// never stops delivery or crashes the process. The thread-safe function is
/// weak: a registered listener never keeps Node alive.
#[napi(js_name = "_deliver", ts_return_type = "Promise<number>")]
pub fn deliver<'env>(
    env: &'env Env,
    #[napi(ts_arg_type = "(value: string) => unknown")] listener: Function<'env, String, Unknown<'static>>,
    values: Vec<String>,
) -> napi::Result<Object<'env>> {
    let tsfn =
        listener.build_threadsafe_function::<String>().weak::<true>().callee_handled::<false>().build()?;
    runtime::promise(env, async move {
        let mut delivered = 0u32;
        for value in values {
            let (tx, rx) = tokio::sync::oneshot::channel();
            // Runs on the JS thread: a synchronous throw arrives as `Err` (not a
            // fatal exception, unlike `call_async`); a returned promise is turned
            // into a Rust future, which also keeps its rejection from being unhandled.
            tsfn.call_with_return_value(value, ThreadsafeFunctionCallMode::NonBlocking, move |ret, _env| {
                let outcome = ret.and_then(|v: Unknown<'_>| {
                    if v.is_promise()? {
                        let p: PromiseRaw<'_, ()> = PromiseRaw::new(v.value().env, v.raw());
                        Ok(Some(p.into_sendable_promise()?))
                    } else {
                        Ok(None)
                    }
                });
                let _ = tx.send(outcome);
                Ok(())
            });
            let outcome = match rx.await {
                Ok(Ok(Some(pending))) => pending.await.map(drop),
                Ok(Ok(None)) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => {
                    Err(napi::Error::from_reason("the listener was not called (Node is shutting down)"))
                }
            };
            match outcome {
                Ok(()) => delivered += 1,
                Err(e) => eprintln!("usher: a listener failed: {}", e.reason),
            }
        }
        Ok(delivered)
    })
}
