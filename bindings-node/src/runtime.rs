//! Promises settled from the shared runtime of `usher_core::runtime`.
//!
//! napi's own `async fn` support would poll futures on a second tokio runtime
//! it owns; SPEC §1 wants one runtime for every binding. So a method that does
//! async work returns the promise of a `JsDeferred` and spawns its future on
//! `usher_core::runtime::shared()`; the result is converted on the JS thread,
//! where a core error becomes the JS `Error` of [`crate::error`].
//!
//! Pattern for an async method (TypeScript return type given explicitly):
//!
//! ```ignore
//! #[napi(ts_return_type = "Promise<void>")]
//! pub fn close(&self, env: Env) -> napi::Result<Object<'_>> {
//!     let inner = self.inner()?.clone();
//!     runtime::promise(&env, async move { inner.close().await })
//! }
//! ```

use std::future::Future;

use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::{Env, Result};

/// Spawns `fut` on the shared runtime and returns a promise settled with its
/// output: resolved with the value, or rejected with the mapped core error.
///
/// An unsettled promise keeps Node alive (like any pending I/O), because the
/// deferred holds a referenced thread-safe function until it settles.
pub fn promise<'env, T, F>(env: &'env Env, fut: F) -> Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = std::result::Result<T, usher_core::Error>> + Send + 'static,
{
    let (deferred, promise) = env.create_deferred()?;
    usher_core::runtime::shared().spawn(async move {
        let outcome = fut.await;
        deferred.resolve(move |env: Env| outcome.map_err(|e| crate::error::to_napi_error(&env, &e)));
    });
    Ok(promise)
}
