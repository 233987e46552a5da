//! [`ClientControl`]: `session.clients`, the operations of SPEC §4.1 (Node
//! column of §4.6). Each method converts its arguments, calls the core and
//! returns a promise; an argument error rejects it (never a synchronous throw).
//!
//! `sessions` is a string: the core's `Target::parse` decides whether it is a
//! session id or a filter. Every operation on a target takes an optional last
//! `{ maxTargets }` and has a `…Detailed` twin resolving to a `FilterResult`.

use napi::bindgen_prelude::{Object, Unknown};
use napi::{Env, JsValue, ValueType};
use napi_derive::napi;
use usher_core::client::SessionEventParams;
use usher_core::error::{Error, Result as CoreResult};
use usher_core::id::Target;
use usher_core::protocol::{FetchRequest, FilterResult, Throttler};

use crate::convert::{
    Js, boolean, count, field, is_nullish, object, opt_string, property_changes, session_id, string, strings,
    target,
};
use crate::error::CoreResultExt;
use crate::listener::{self, Drivers, Listener};
use crate::runtime;

/// Client control on a session: `session.clients`.
#[napi]
#[derive(Debug)]
pub struct ClientControl {
    inner: usher_core::client::ClientControl,
    drivers: Drivers,
}

type Op<T> = usher_core::client::BoxFuture<CoreResult<T>>;

type Socket = Option<std::os::fd::RawFd>;

fn count_promise<'env>(
    env: &'env Env,
    socket: Socket,
    op: CoreResult<Op<u64>>,
) -> napi::Result<Object<'env>> {
    runtime::promise_watching(env, socket, async move { op?.await.map(|n| n as f64) })
}

fn detailed_promise<'env>(
    env: &'env Env,
    socket: Socket,
    op: CoreResult<Op<FilterResult>>,
) -> napi::Result<Object<'env>> {
    runtime::promise_watching(env, socket, async move { op?.await.map(Js) })
}

/// `{ maxTargets }` as core options.
fn max_targets(options: Option<&Unknown<'_>>) -> CoreResult<Option<u64>> {
    match options {
        Some(o) if !is_nullish(o) => {
            let o = object(o, "options")?;
            field(&o, "maxTargets")?.map(|m| count(&m, "maxTargets")).transpose()
        }
        _ => Ok(None),
    }
}

/// The two forms of changeRoles: `(remove[], add[], options?)` or `({ add, remove, maxTargets })`.
fn role_changes(
    a: Option<&Unknown<'_>>,
    b: Option<&Unknown<'_>>,
    c: Option<&Unknown<'_>>,
) -> CoreResult<(Vec<String>, Vec<String>, Option<u64>)> {
    let list = |v: Option<Unknown<'_>>, name: &str| match v {
        Some(v) => strings(&v, name),
        None => Ok(Vec::new()),
    };
    match a {
        Some(a) if a.get_type().ok() == Some(ValueType::Object) && !a.is_array().unwrap_or(false) => {
            let o = object(a, "changes")?;
            let remove = list(field(&o, "remove")?, "remove")?;
            let add = list(field(&o, "add")?, "add")?;
            let max = match field(&o, "maxTargets")? {
                Some(m) => Some(count(&m, "maxTargets")?),
                None => max_targets(b)?,
            };
            Ok((remove, add, max))
        }
        _ => {
            let remove = match a.filter(|v| !is_nullish(v)) {
                Some(v) => strings(v, "rolesToRemove")?,
                None => Vec::new(),
            };
            let add = match b.filter(|v| !is_nullish(v)) {
                Some(v) => strings(v, "rolesToAdd")?,
                None => Vec::new(),
            };
            Ok((remove, add, max_targets(c)?))
        }
    }
}

impl ClientControl {
    pub(crate) fn new(inner: usher_core::client::ClientControl, drivers: Drivers) -> Self {
        Self { inner, drivers }
    }

    fn with(&self, max: Option<u64>) -> usher_core::client::ClientControl {
        match max {
            Some(m) => self.inner.max_targets(m),
            None => self.inner.clone(),
        }
    }

    fn close_args(
        &self,
        sessions: &Unknown<'_>,
        options: Option<&Unknown<'_>>,
    ) -> CoreResult<(usher_core::client::ClientControl, Target)> {
        Ok((self.with(max_targets(options)?), target(sessions)?))
    }

    #[allow(clippy::type_complexity)]
    fn change_roles_args(
        &self,
        sessions: &Unknown<'_>,
        a: Option<&Unknown<'_>>,
        b: Option<&Unknown<'_>>,
        c: Option<&Unknown<'_>>,
    ) -> CoreResult<(usher_core::client::ClientControl, Target, Vec<String>, Vec<String>)> {
        let target = target(sessions)?;
        let (remove, add, max) = role_changes(a, b, c)?;
        Ok((self.with(max), target, remove, add))
    }

    #[allow(clippy::type_complexity)]
    fn set_properties_args(
        &self,
        sessions: &Unknown<'_>,
        properties: &Unknown<'_>,
        options: Option<&Unknown<'_>>,
    ) -> CoreResult<(usher_core::client::ClientControl, Target, Vec<(String, Option<String>)>)> {
        let target = target(sessions)?;
        let changes = property_changes(properties)?;
        Ok((self.with(max_targets(options)?), target, changes))
    }

    fn set_conflated_args(
        &self,
        sessions: &Unknown<'_>,
        conflated: &Unknown<'_>,
        options: Option<&Unknown<'_>>,
    ) -> CoreResult<(usher_core::client::ClientControl, Target, bool)> {
        let target = target(sessions)?;
        let on = boolean(conflated, "conflated")?;
        Ok((self.with(max_targets(options)?), target, on))
    }

    fn set_throttled_args(
        &self,
        sessions: &Unknown<'_>,
        throttler: &Unknown<'_>,
        options: Option<&Unknown<'_>>,
    ) -> CoreResult<(usher_core::client::ClientControl, Target, Throttler)> {
        let target = target(sessions)?;
        let t = crate::convert::throttler(throttler)?;
        Ok((self.with(max_targets(options)?), target, t))
    }
}

#[napi]
impl ClientControl {
    /// The same operations, failing with `LIMIT_EXCEEDED` (acting on none)
    /// when a filter matches more than `max` sessions. Throws
    /// `INVALID_ARGUMENT` for a bad `max` (it returns no promise).
    #[napi(ts_args_type = "max: number")]
    pub fn max_targets(&self, env: Env, max: Unknown<'_>) -> napi::Result<ClientControl> {
        let max = count(&max, "maxTargets").or_throw(&env)?;
        Ok(ClientControl { inner: self.inner.max_targets(max), drivers: self.drivers.clone() })
    }

    /// Closes the target sessions (`CLOSED_BY_CONTROLLER`); resolves to the number closed.
    #[napi(ts_args_type = "sessions: string, options?: ControlOptions", ts_return_type = "Promise<number>")]
    pub fn close<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        count_promise(
            env,
            self.inner.socket_fd(),
            self.close_args(&sessions, options.as_ref()).map(|(c, t)| c.close(t)),
        )
    }

    /// `close` with the full result.
    #[napi(
        ts_args_type = "sessions: string, options?: ControlOptions",
        ts_return_type = "Promise<FilterResult>"
    )]
    pub fn close_detailed<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        detailed_promise(
            env,
            self.inner.socket_fd(),
            self.close_args(&sessions, options.as_ref()).map(|(c, t)| c.close_detailed(t)),
        )
    }

    /// Removes then adds roles: `changeRoles(sessions, rolesToRemove, rolesToAdd, options?)`
    /// or `changeRoles(sessions, { add, remove, maxTargets? })`; resolves to the number matched.
    #[napi(
        ts_args_type = "sessions: string, rolesToRemove: string[] | RoleChanges, rolesToAdd?: string[] | ControlOptions, options?: ControlOptions",
        ts_return_type = "Promise<number>"
    )]
    pub fn change_roles<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        a: Option<Unknown<'_>>,
        b: Option<Unknown<'_>>,
        c: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let args = self.change_roles_args(&sessions, a.as_ref(), b.as_ref(), c.as_ref());
        count_promise(env, self.inner.socket_fd(), args.map(|(c, t, r, a)| c.change_roles(t, r, a)))
    }

    /// `changeRoles` with the full result.
    #[napi(
        ts_args_type = "sessions: string, rolesToRemove: string[] | RoleChanges, rolesToAdd?: string[] | ControlOptions, options?: ControlOptions",
        ts_return_type = "Promise<FilterResult>"
    )]
    pub fn change_roles_detailed<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        a: Option<Unknown<'_>>,
        b: Option<Unknown<'_>>,
        c: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let args = self.change_roles_args(&sessions, a.as_ref(), b.as_ref(), c.as_ref());
        detailed_promise(
            env,
            self.inner.socket_fd(),
            args.map(|(c, t, r, a)| c.change_roles_detailed(t, r, a)),
        )
    }

    /// One session's properties: names, `*F` (all fixed), `*U` (all user).
    #[napi(
        ts_args_type = "sessionId: string, keys: string[]",
        ts_return_type = "Promise<Record<string, string>>"
    )]
    pub fn get_session_properties<'env>(
        &self,
        env: &'env Env,
        session: Unknown<'_>,
        keys: Unknown<'_>,
    ) -> napi::Result<Object<'env>> {
        let op = (|| -> CoreResult<_> {
            Ok(self.inner.get_session_properties(session_id(&session)?, strings(&keys, "keys")?))
        })();
        runtime::promise_watching(env, self.inner.socket_fd(), async move { op?.await })
    }

    /// Sets properties (`null` removes the key); resolves to the number matched.
    /// Sessions refused for a limit make it reject with `LIMIT_EXCEEDED` carrying the result.
    #[napi(
        ts_args_type = "sessions: string, properties: Record<string, string | null>, options?: ControlOptions",
        ts_return_type = "Promise<number>"
    )]
    pub fn set_session_properties<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        properties: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let args = self.set_properties_args(&sessions, &properties, options.as_ref());
        count_promise(env, self.inner.socket_fd(), args.map(|(c, t, p)| c.set_session_properties(t, p)))
    }

    /// `setSessionProperties` with the full result (by id, `changed` maps each
    /// changed key to its old value).
    #[napi(
        ts_args_type = "sessions: string, properties: Record<string, string | null>, options?: ControlOptions",
        ts_return_type = "Promise<FilterResult>"
    )]
    pub fn set_session_properties_detailed<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        properties: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let args = self.set_properties_args(&sessions, &properties, options.as_ref());
        detailed_promise(
            env,
            self.inner.socket_fd(),
            args.map(|(c, t, p)| c.set_session_properties_detailed(t, p)),
        )
    }

    /// Turns conflation on or off; resolves to the number matched.
    #[napi(
        ts_args_type = "sessions: string, conflated: boolean, options?: ControlOptions",
        ts_return_type = "Promise<number>"
    )]
    pub fn set_conflated<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        conflated: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let args = self.set_conflated_args(&sessions, &conflated, options.as_ref());
        count_promise(env, self.inner.socket_fd(), args.map(|(c, t, on)| c.set_conflated(t, on)))
    }

    /// `setConflated` with the full result.
    #[napi(
        ts_args_type = "sessions: string, conflated: boolean, options?: ControlOptions",
        ts_return_type = "Promise<FilterResult>"
    )]
    pub fn set_conflated_detailed<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        conflated: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let args = self.set_conflated_args(&sessions, &conflated, options.as_ref());
        detailed_promise(env, self.inner.socket_fd(), args.map(|(c, t, on)| c.set_conflated_detailed(t, on)))
    }

    /// Sets the throttler (`{ kind: 'messagesPerSecond', limit: 100 }`,
    /// `{ kind: 'bytesPerSecond', limit }`, `{ kind: 'unthrottled' }`);
    /// resolves to the number matched.
    #[napi(
        ts_args_type = "sessions: string, throttler: Throttler, options?: ControlOptions",
        ts_return_type = "Promise<number>"
    )]
    pub fn set_throttled<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        throttler: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let args = self.set_throttled_args(&sessions, &throttler, options.as_ref());
        count_promise(env, self.inner.socket_fd(), args.map(|(c, t, th)| c.set_throttled(t, th)))
    }

    /// `setThrottled` with the full result.
    #[napi(
        ts_args_type = "sessions: string, throttler: Throttler, options?: ControlOptions",
        ts_return_type = "Promise<FilterResult>"
    )]
    pub fn set_throttled_detailed<'env>(
        &self,
        env: &'env Env,
        sessions: Unknown<'_>,
        throttler: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let args = self.set_throttled_args(&sessions, &throttler, options.as_ref());
        detailed_promise(env, self.inner.socket_fd(), args.map(|(c, t, th)| c.set_throttled_detailed(t, th)))
    }

    /// A page of matching sessions with the requested properties, ordered by
    /// (`$StartTime`, `$SessionId`). `limit` defaults to 100 (at most 1,000);
    /// pass `nextCursor` back as `cursor` for the next page.
    #[napi(ts_args_type = "request?: FetchSessionsRequest", ts_return_type = "Promise<SessionPage>")]
    pub fn fetch_sessions<'env>(
        &self,
        env: &'env Env,
        request: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let op = (|| -> CoreResult<_> {
            let mut r = FetchRequest::default();
            if let Some(request) = request.as_ref().filter(|r| !is_nullish(r)) {
                let o = object(request, "request")?;
                if let Some(f) = field(&o, "filter")? {
                    r.filter = string(&f, "filter")?;
                }
                if let Some(p) = field(&o, "properties")? {
                    r.keys = strings(&p, "properties")?;
                }
                if let Some(l) = field(&o, "limit")? {
                    r.limit = Some(u32::try_from(count(&l, "limit")?).unwrap_or(u32::MAX));
                }
                r.cursor = opt_string(field(&o, "cursor")?.as_ref(), "cursor")?;
            }
            Ok(self.inner.fetch_sessions(r))
        })();
        runtime::promise_watching(env, self.inner.socket_fd(), async move { op?.await.map(Js) })
    }

    /// How many sessions match (acts on none).
    #[napi(ts_args_type = "filter: string", ts_return_type = "Promise<number>")]
    pub fn count<'env>(&self, env: &'env Env, filter: Unknown<'_>) -> napi::Result<Object<'env>> {
        count_promise(env, self.inner.socket_fd(), string(&filter, "filter").map(|f| self.inner.count(f)))
    }

    /// `count` with the count per server.
    #[napi(ts_args_type = "filter: string", ts_return_type = "Promise<FilterResult>")]
    pub fn count_detailed<'env>(&self, env: &'env Env, filter: Unknown<'_>) -> napi::Result<Object<'env>> {
        detailed_promise(
            env,
            self.inner.socket_fd(),
            string(&filter, "filter").map(|f| self.inner.count_detailed(f)),
        )
    }

    /// Registers a session-event listener: a function called with each event,
    /// or an object with `onEvent(event)`, `onError(error)`, `onClose()`.
    /// Resolves once the snapshot (one `ACTIVE` per matching session) has been
    /// passed to the listener.
    #[napi(
        ts_args_type = "listener: SessionEventListener, params?: SessionEventParams",
        ts_return_type = "Promise<Registration>"
    )]
    pub fn add_session_event_listener<'env>(
        &self,
        env: &'env Env,
        listener: Unknown<'_>,
        params: Option<Unknown<'_>>,
    ) -> napi::Result<Object<'env>> {
        let listener = Listener::new(&listener, &["onEvent", "onError", "onClose"]);
        let params = (|| -> CoreResult<_> {
            let mut p = SessionEventParams::new();
            if let Some(params) = params.as_ref().filter(|p| !is_nullish(p)) {
                let o = object(params, "params")?;
                p.filter = opt_string(field(&o, "filter")?.as_ref(), "filter")?;
                if let Some(k) = field(&o, "properties")? {
                    p.properties = strings(&k, "properties")?;
                }
                if let Some(a) = field(&o, "after")? {
                    p.after = Some(count(&a, "after")?);
                }
            }
            Ok(p)
        })();
        let (listener, register) = match (listener, params) {
            (Ok(l), Ok(p)) => (Ok(l), Some(self.inner.session_events(p))),
            (Err(e), _) | (_, Err(e)) => (Err(e), None),
        };
        listener::register(env, listener, self.drivers.clone(), async move {
            match register {
                Some(r) => r.await,
                None => Err(Error::invalid_argument("listener", "unreachable")),
            }
        })
    }

    /// Registers this session's queue event handler (a second is
    /// `HANDLER_CONFLICT`): a function called with each event, or an object
    /// with `onUpperThresholdCrossed(sessionId, policy)`,
    /// `onLowerThresholdCrossed(sessionId, policy)`, `onPolicyChanged(sessionId, policy)`,
    /// `onError(error)`, `onClose()`.
    #[napi(ts_args_type = "handler: QueueEventHandler", ts_return_type = "Promise<Registration>")]
    pub fn set_queue_event_handler<'env>(
        &self,
        env: &'env Env,
        handler: Unknown<'_>,
    ) -> napi::Result<Object<'env>> {
        let listener = Listener::new(
            &handler,
            &["onUpperThresholdCrossed", "onLowerThresholdCrossed", "onPolicyChanged", "onError", "onClose"],
        );
        let register = listener.as_ref().ok().map(|_| self.inner.queue_events());
        listener::register(env, listener, self.drivers.clone(), async move {
            match register {
                Some(r) => r.await,
                None => Err(Error::invalid_argument("handler", "unreachable")),
            }
        })
    }
}
