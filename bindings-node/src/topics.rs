//! [`Topics`]: `session.topics` (add, remove, update, subscribe), and
//! [`Subscription`], an async iterator of `{ path, value: Buffer }`.
//!
//! `subscribe(selector)` resolves to a [`Subscription`] to read with
//! `for await`; `subscribe(selector, listener)` calls the listener instead
//! and resolves to a `Registration` (see `listener.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use napi::bindgen_prelude::{Buffer, Function, JsObjectValue, Object, ToNapiValue, Unknown};
use napi::{Env, JsValue, ValueType, sys};
use napi_derive::napi;
use tokio::sync::Notify;
use usher_core::error::Result as CoreResult;

use crate::convert::{Js, ToJs, TopicValue, is_nullish, string};
use crate::listener::{self, Drivers, Listener};
use crate::runtime;

/// Topic operations on a session: `session.topics`.
#[napi]
#[derive(Debug)]
pub struct Topics {
    inner: usher_core::client::Topics,
    drivers: Drivers,
}

impl Topics {
    pub(crate) fn new(inner: usher_core::client::Topics, drivers: Drivers) -> Self {
        Self { inner, drivers }
    }
}

/// A value as bytes: a `Buffer`/`Uint8Array` or a string (UTF-8).
fn bytes(value: Option<&Unknown<'_>>) -> CoreResult<Vec<u8>> {
    let Some(value) = value.filter(|v| !is_nullish(v)) else { return Ok(Vec::new()) };
    if value.get_type().ok() == Some(ValueType::String) {
        return Ok(string(value, "value")?.into_bytes());
    }
    let b: Buffer = crate::convert::arg(value, "value", "a Buffer, a Uint8Array or a string")?;
    Ok(b.to_vec())
}

#[napi]
impl Topics {
    /// Adds a topic with its initial value (needs `MODIFY_TOPIC`).
    #[napi(ts_args_type = "path: string, value?: Uint8Array | string", ts_return_type = "Promise<void>")]
    pub fn add<'env>(
        &self,
        env: &'env Env,
        path: Unknown<'_>,
        value: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let op =
            (|| -> CoreResult<_> { Ok(self.inner.add(string(&path, "path")?, bytes(value.as_ref())?)) })();
        runtime::promise(env, async move { op?.await })
    }

    /// Removes a topic (needs `MODIFY_TOPIC`).
    #[napi(ts_args_type = "path: string", ts_return_type = "Promise<void>")]
    pub fn remove<'env>(&self, env: &'env Env, path: Unknown<'_>) -> napi::Result<Object<'env>> {
        let op = string(&path, "path").map(|p| self.inner.remove(p));
        runtime::promise(env, async move { op?.await })
    }

    /// Sets a topic's value (needs `UPDATE_TOPIC`).
    #[napi(ts_args_type = "path: string, value: Uint8Array | string", ts_return_type = "Promise<void>")]
    pub fn update<'env>(
        &self,
        env: &'env Env,
        path: Unknown<'_>,
        value: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let op =
            (|| -> CoreResult<_> { Ok(self.inner.update(string(&path, "path")?, bytes(value.as_ref())?)) })();
        runtime::promise(env, async move { op?.await })
    }

    /// Subscribes to an exact path, or `path/*` for the path and everything
    /// below it; the current values come first. Without a listener resolves
    /// to a `Subscription` (an async iterator of `{ path, value }`); with one
    /// (a function, or an object with `onValue(value)`, `onError(error)`,
    /// `onClose()`) calls it and resolves to a `Registration` once the current
    /// values have been passed to it.
    #[napi(
        ts_args_type = "selector: string, listener?: TopicListener",
        ts_return_type = "Promise<Subscription | Registration>"
    )]
    pub fn subscribe<'env>(
        &self,
        env: &'env Env,
        selector: Unknown<'_>,
        listener: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let selector = string(&selector, "selector");
        let subscribe = selector.map(|s| self.inner.subscribe(s));
        match listener.filter(|l| !is_nullish(l)) {
            Some(l) => {
                let listener = Listener::new(&l, &["onValue", "onError", "onClose"]);
                listener::register(env, listener, self.drivers.clone(), async move { subscribe?.await })
            }
            None => runtime::promise(env, async move {
                let stream = subscribe?.await?;
                Ok(NewSubscription(Subscription {
                    stream: Arc::new(tokio::sync::Mutex::new(Some(stream))),
                    closed: Arc::new(AtomicBool::new(false)),
                    cancel: Arc::new(Notify::new()),
                }))
            }),
        }
    }
}

/// A topic subscription read as an async iterator:
/// `for await (const { path, value } of subscription) { ... }`. Leaving the
/// loop (`break`, `return`) or `close()` unsubscribes.
#[napi]
#[derive(Debug)]
pub struct Subscription {
    stream: Arc<tokio::sync::Mutex<Option<usher_core::client::Subscription>>>,
    closed: Arc<AtomicBool>,
    cancel: Arc<Notify>,
}

/// An iterator result: `{ value, done }`.
struct Step(Option<TopicValue>);

impl ToJs for Step {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let mut o = Object::new(env)?;
        match &self.0 {
            Some(v) => {
                o.set_named_property("value", v.to_js(env)?)?;
                o.set_named_property("done", false)?;
            }
            None => {
                o.set_named_property("value", ())?;
                o.set_named_property("done", true)?;
            }
        }
        Ok(o.to_unknown())
    }
}

impl Subscription {
    fn close_future(&self) -> impl std::future::Future<Output = CoreResult<()>> + Send + 'static {
        self.closed.store(true, Ordering::SeqCst);
        self.cancel.notify_waiters();
        let stream = Arc::clone(&self.stream);
        async move {
            let taken = stream.lock().await.take();
            match taken {
                Some(s) => match s.close().await {
                    Err(e) if e.kind != usher_core::ErrorKind::SessionClosed => Err(e),
                    _ => Ok(()),
                },
                None => Ok(()),
            }
        }
    }
}

#[napi]
impl Subscription {
    /// The next value (`{ value: { path, value }, done: false }`), or
    /// `{ done: true }` once the subscription has ended; rejects with the
    /// error that ended it (e.g. `ACCESS_DENIED` after a role change).
    #[napi(ts_return_type = "Promise<IteratorResult<TopicValue, undefined>>")]
    pub fn next<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let (stream, closed, cancel) =
            (Arc::clone(&self.stream), Arc::clone(&self.closed), Arc::clone(&self.cancel));
        runtime::promise(env, async move {
            let notified = cancel.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if closed.load(Ordering::SeqCst) {
                return Ok(Js(Step(None)));
            }
            let mut guard = stream.lock().await;
            let Some(s) = guard.as_mut() else { return Ok(Js(Step(None))) };
            tokio::select! {
                item = s.next() => match item {
                    Some(Ok((path, value))) => Ok(Js(Step(Some(TopicValue(path, value))))),
                    Some(Err(e)) => Err(e),
                    None => Ok(Js(Step(None))),
                },
                _ = notified => Ok(Js(Step(None))),
            }
        })
    }

    /// Unsubscribes (what `break` in a `for await` loop calls).
    #[napi(js_name = "return", ts_return_type = "Promise<IteratorResult<TopicValue, undefined>>")]
    pub fn return_<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let close = self.close_future();
        runtime::promise(env, async move {
            close.await?;
            Ok(Js(Step(None)))
        })
    }

    /// Unsubscribes and waits for the server to confirm.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        runtime::promise(env, self.close_future())
    }
}

/// A new [`Subscription`] made async-iterable: `[Symbol.asyncIterator]`
/// returning itself is set on the instance (napi classes cannot declare
/// symbol-keyed methods).
struct NewSubscription(Subscription);

impl ToNapiValue for NewSubscription {
    unsafe fn to_napi_value(raw_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let instance = unsafe { Subscription::to_napi_value(raw_env, val.0)? };
        let env = Env::from_raw(raw_env);
        let iterable: Function<'_, Unknown<'_>, Unknown<'_>> = env.run_script(
            "(function (o) { o[Symbol.asyncIterator] = function () { return this }; return o })",
        )?;
        let instance = unsafe { Unknown::from_raw_unchecked(raw_env, instance) };
        Ok(iterable.call(instance)?.raw())
    }
}
