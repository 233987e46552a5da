//! Async functions on the shared runtime of `usher_core::runtime`.
//!
//! UniFFI polls an exported `async fn` from the foreign executor (Swift's
//! cooperative pool, Python's event loop), where there is no tokio context;
//! its `async_runtime = "tokio"` option would bring a second runtime. So an
//! async export spawns its work on `usher_core::runtime::shared()` and awaits
//! the join handle, which any executor can poll:
//!
//! ```ignore
//! #[uniffi::export]
//! impl Session {
//!     pub async fn close(&self) -> Result<(), UsherError> {
//!         let inner = self.inner()?;
//!         runtime::run(async move { inner.close().await }).await
//!     }
//! }
//! ```

use std::future::Future;

use crate::UsherError;

/// Runs `fut` on the shared runtime and returns its output, its core error
/// mapped; a panic in the task becomes `UsherError.internalError`.
pub async fn run<T, F>(fut: F) -> Result<T, UsherError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, usher_core::Error>> + Send + 'static,
{
    match usher_core::runtime::shared().spawn(fut).await {
        Ok(result) => result.map_err(UsherError::from),
        Err(join) => Err(UsherError::InternalError { message: format!("the task failed: {join}") }),
    }
}
