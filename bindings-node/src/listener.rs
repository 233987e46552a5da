//! Callback bridging: a JS listener (a plain function, or an object with
//! handler methods) called from the shared runtime, and [`Registration`], the
//! handle every `add…Listener` / `set…Handler` / `subscribe(…, listener)`
//! resolves to.
//!
//! How a listener is called (the pattern `selftest::_deliver` tests):
//! - one weak thread-safe function per handler method, so a listener never
//!   keeps Node alive; an object's methods are `bind`-ed to the object first
//!   (napi calls a thread-safe function with `this === undefined`);
//! - `call_with_return_value`, never `call_async`: a synchronous throw arrives
//!   as `Err` instead of a fatal exception, and a returned promise is awaited
//!   (its rejection handled), so async listeners are called one at a time in
//!   order, like the core's trait listeners;
//! - a throw or rejection is reported on stderr and delivery carries on.
//!
//! A driver task on the shared runtime owns the core's event stream and calls
//! the listener for each item, then `onError` for a failure, then `onClose`
//! exactly once, last. The registration ends on `close()`, when the session
//! ends, or on a failure. Dropping (garbage-collecting) the handle does not
//! end it: in JavaScript a listener stays until it is removed.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use napi::bindgen_prelude::{FnArgs, Function, Object, PromiseRaw, ToNapiValue, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsValue, Status, ValueType, sys};
use napi_derive::napi;
use tokio::sync::{Notify, oneshot, watch};
use usher_core::client::{EventStream, StreamItem};
use usher_core::error::{Error, Result as CoreResult};
use usher_core::protocol::{QueueEvent, SessionEvent};

use crate::convert::{ToJs, TopicValue, is_nullish};
use crate::runtime;

/// One argument of a listener call, converted on the JS thread.
pub enum Arg {
    /// `undefined`.
    None,
    /// A string (a session id).
    Str(String),
    /// Anything with a JS form.
    Value(Box<dyn ToJs + Send>),
}

impl ToNapiValue for Arg {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        match val {
            Arg::None => unsafe { <()>::to_napi_value(env, ()) },
            Arg::Str(s) => unsafe { String::to_napi_value(env, s) },
            Arg::Value(v) => Ok(v.to_js(&Env::from_raw(env))?.raw()),
        }
    }
}

impl std::fmt::Debug for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::None => f.write_str("None"),
            Arg::Str(s) => f.debug_tuple("Str").field(s).finish(),
            Arg::Value(_) => f.write_str("Value(..)"),
        }
    }
}

/// Every call passes two arguments (`undefined` where a method takes fewer),
/// so one thread-safe function type serves every method.
type Args = FnArgs<(Arg, Arg)>;
type Tsfn = ThreadsafeFunction<(Arg, Arg), Unknown<'static>, Args, Status, false, true>;

/// Wraps a value for a listener call.
pub fn value<T: ToJs + Send + 'static>(v: T) -> Arg {
    Arg::Value(Box::new(v))
}

/// A JS listener: a plain function, or an object's handler methods.
pub struct Listener {
    /// The plain function, called with the whole event.
    plain: Option<Tsfn>,
    /// `(method name, bound method)` for an object listener.
    methods: Vec<(&'static str, Tsfn)>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let methods: Vec<_> = self.methods.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Listener").field("plain", &self.plain.is_some()).field("methods", &methods).finish()
    }
}

fn tsfn(f: &Function<'_, Unknown<'static>, Unknown<'static>>) -> napi::Result<Tsfn> {
    f.build_threadsafe_function::<(Arg, Arg)>()
        .weak::<true>()
        .callee_handled::<false>()
        .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))
}

impl Listener {
    /// Builds a listener from `value` (on the JS thread): a function, or an
    /// object with at least one of `methods`. Anything else is `INVALID_ARGUMENT`.
    pub fn new(value: &Unknown<'_>, methods: &[&'static str]) -> CoreResult<Listener> {
        let bad = |why: String| Error::invalid_argument("listener", why);
        let internal = |e: napi::Error| bad(format!("cannot use the listener: {}", e.reason));
        match value.get_type().map_err(internal)? {
            ValueType::Function => {
                let f: Function<'_, Unknown<'static>, Unknown<'static>> =
                    crate::convert::arg(value, "listener", "a function")?;
                Ok(Listener { plain: Some(tsfn(&f).map_err(internal)?), methods: Vec::new() })
            }
            ValueType::Object if !is_nullish(value) => {
                let object: Object<'_> = crate::convert::arg(value, "listener", "an object")?;
                let mut bound = Vec::new();
                for &name in methods {
                    let m: Option<Unknown<'_>> = object.get(name).map_err(internal)?;
                    if let Some(m) = m.filter(|m| m.get_type().ok() == Some(ValueType::Function)) {
                        let f: Function<'_, Unknown<'static>, Unknown<'static>> =
                            crate::convert::arg(&m, name, "a function")?;
                        let f = f.bind(object).map_err(internal)?;
                        bound.push((name, tsfn(&f).map_err(internal)?));
                    }
                }
                if bound.is_empty() {
                    return Err(bad(format!(
                        "a listener object needs one of the methods {}",
                        methods.join(", ")
                    )));
                }
                Ok(Listener { plain: None, methods: bound })
            }
            _ => Err(bad("listener must be a function or an object with handler methods".into())),
        }
    }

    /// True when the listener is a plain function.
    pub fn is_plain(&self) -> bool {
        self.plain.is_some()
    }

    /// Calls method `name` (or, for a plain function when `name` is `None`,
    /// the function) and waits until it has returned and any promise it
    /// returned has settled. Missing methods are skipped. Failures are reported.
    pub async fn call(&self, name: Option<&'static str>, a: Arg, b: Arg) {
        let f = match name {
            None => self.plain.as_ref(),
            Some(name) => self.methods.iter().find(|(n, _)| *n == name).map(|(_, f)| f),
        };
        let Some(f) = f else { return };
        let (tx, rx) = oneshot::channel();
        let status =
            f.call_with_return_value((a, b), ThreadsafeFunctionCallMode::NonBlocking, move |ret, _env| {
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
        if status != Status::Ok {
            return; // Node is shutting down.
        }
        let outcome = match rx.await {
            Ok(Ok(Some(pending))) => pending.await.map(drop),
            Ok(Ok(None)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => return, // never called: Node is shutting down
        };
        if let Err(e) = outcome {
            eprintln!("usher: listener {} failed: {}", name.unwrap_or("function"), e.reason);
        }
    }
}

/// The driver tasks of a session, so `session.close()` can wait until every
/// listener has had its `onClose`.
#[derive(Clone, Debug, Default)]
pub struct Drivers(Arc<Mutex<Vec<watch::Receiver<bool>>>>);

impl Drivers {
    fn add(&self, done: watch::Receiver<bool>) {
        if let Ok(mut list) = self.0.lock() {
            list.retain(|d| !*d.borrow());
            list.push(done);
        }
    }

    /// Waits until every driver registered so far has finished.
    pub async fn finished(&self) {
        let list: Vec<_> = self.0.lock().map(|l| l.clone()).unwrap_or_default();
        for mut done in list {
            let _ = done.wait_for(|d| *d).await;
        }
    }
}

/// How a driver hands an item to the listener.
pub trait Dispatch: StreamItem {
    /// Calls the listener with the item.
    fn dispatch(self, listener: &Listener) -> impl std::future::Future<Output = ()> + Send;
}

impl Dispatch for SessionEvent {
    async fn dispatch(self, listener: &Listener) {
        let name = if listener.is_plain() { None } else { Some("onEvent") };
        listener.call(name, value(self), Arg::None).await
    }
}

impl Dispatch for QueueEvent {
    async fn dispatch(self, listener: &Listener) {
        if listener.is_plain() {
            listener.call(None, value(self), Arg::None).await
        } else {
            let name = crate::convert::queue_event_names(&self).1;
            let (id, policy) = (self.session().to_string(), *self.policy());
            listener.call(Some(name), Arg::Str(id), value(policy)).await
        }
    }
}

impl Dispatch for (String, Vec<u8>) {
    async fn dispatch(self, listener: &Listener) {
        let name = if listener.is_plain() { None } else { Some("onValue") };
        listener.call(name, value(TopicValue(self.0, self.1)), Arg::None).await
    }
}

/// The handle of a listener registration (session events, the queue handler,
/// a topic subscription with a listener). `close()` unregisters and resolves
/// once the listener's `onClose` has run.
#[napi]
#[derive(Debug)]
pub struct Registration {
    cancel: Arc<Notify>,
    done: watch::Receiver<bool>,
}

#[napi]
impl Registration {
    /// Unregisters (waiting for the server) and resolves once the listener's
    /// `onClose` has run. Closing twice, or after the session ended, is fine.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        self.cancel.notify_one();
        let mut done = self.done.clone();
        runtime::promise(env, async move {
            let _ = done.wait_for(|d| *d).await;
            Ok(())
        })
    }

    /// True once the registration has ended (its `onClose` has run).
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        *self.done.borrow()
    }
}

/// Starts the driver of `stream` on the shared runtime (call from a runtime
/// task). Resolves once the snapshot the stream holds has been passed to the
/// listener, with the registration handle.
pub async fn drive<T: Dispatch>(
    mut stream: EventStream<T>,
    listener: Listener,
    drivers: &Drivers,
) -> Registration {
    let cancel = Arc::new(Notify::new());
    let (done_tx, done) = watch::channel(false);
    drivers.add(done.clone());
    for _ in 0..stream.pending_snapshot() {
        match stream.next().await {
            Some(Ok(item)) => item.dispatch(&listener).await,
            _ => break,
        }
    }
    let stop = Arc::clone(&cancel);
    usher_core::runtime::shared().spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = stop.notified() => {
                    if let Err(e) = stream.close().await
                        && e.kind != usher_core::ErrorKind::SessionClosed
                    {
                        listener.call(Some("onError"), value(e), Arg::None).await;
                    }
                    break;
                }
                item = stream.next() => match item {
                    Some(Ok(item)) => item.dispatch(&listener).await,
                    Some(Err(e)) => {
                        if listener.is_plain() {
                            eprintln!("usher: a listener registration failed: {e}");
                        } else {
                            listener.call(Some("onError"), value(e), Arg::None).await;
                        }
                    }
                    None => break,
                },
            }
        }
        listener.call(Some("onClose"), Arg::None, Arg::None).await;
        drop(listener);
        let _ = done_tx.send(true);
    });
    Registration { cancel, done }
}

/// The promise of a registration: `register` runs on the shared runtime, then
/// the driver starts.
pub fn register<'env, T, F>(
    env: &'env Env,
    listener: CoreResult<Listener>,
    drivers: Drivers,
    register: F,
) -> napi::Result<Object<'env>>
where
    T: Dispatch,
    F: std::future::Future<Output = CoreResult<EventStream<T>>> + Send + 'static,
{
    runtime::promise(env, async move {
        let listener = listener?;
        let stream = register.await?;
        Ok(drive(stream, listener, &drivers).await)
    })
}
