//! `connect()` and [`Session`]: one connection to an Usher server.
//!
//! An open session keeps Node alive (like an open socket): `connect` holds a
//! strong thread-safe function until the session ends, whoever ends it.
//! Listeners never do (theirs are weak, see `listener.rs`).

use std::time::Duration;

use napi::bindgen_prelude::{Object, Unknown};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status};
use napi_derive::napi;
use usher_core::client::ConnectOptions;
use usher_core::error::{Error, Result as CoreResult};
use usher_core::protocol::ClientType;

use crate::client_control::ClientControl;
use crate::convert::{count, field, object, opt_string, string, string_map};
use crate::listener::Drivers;
use crate::runtime;
use crate::topics::Topics;

/// One session on an Usher server: `const session = await connect({ url, ... })`.
#[napi]
#[derive(Debug)]
pub struct Session {
    inner: usher_core::client::Session,
    drivers: Drivers,
}

fn millis(options: &Object<'_>, key: &str) -> CoreResult<Option<Duration>> {
    Ok(field(options, key)?.map(|v| count(&v, key)).transpose()?.map(Duration::from_millis))
}

fn options(env: &Env, value: &Unknown<'_>) -> CoreResult<ConnectOptions> {
    let o = object(value, "options")?;
    let url = match field(&o, "url")? {
        Some(u) => string(&u, "url")?,
        None => return Err(Error::invalid_argument("url", "options.url is required (ws://host:port)")),
    };
    let environment = match env.get_node_version() {
        Ok(v) => format!("NODE_{}.{}", v.major, v.minor),
        Err(_) => "NODE".to_owned(),
    };
    let mut options = ConnectOptions::new(url).client_type(ClientType::Node).environment(environment);
    options.principal = opt_string(field(&o, "principal")?.as_ref(), "principal")?;
    options.password = opt_string(field(&o, "password")?.as_ref(), "password")?;
    if let Some(p) = field(&o, "properties")? {
        options.properties = string_map(&p, "properties")?;
    }
    if let Some(t) = millis(&o, "connectTimeout")? {
        options = options.connect_timeout(t);
    }
    if let Some(t) = millis(&o, "requestTimeout")? {
        options = options.request_timeout(t);
    }
    if let Some(b) = field(&o, "listenerBuffer")? {
        options = options.listener_buffer(count(&b, "listenerBuffer")? as usize);
    }
    if let Some(t) = millis(&o, "listenerStallTimeout")? {
        options = options.listener_stall_timeout(t);
    }
    Ok(options)
}

/// Connects and authenticates. Rejects with `AUTHENTICATION_FAILED`,
/// `CONNECTION`, `TIMEOUT`, `LIMIT_EXCEEDED` / `INVALID_ARGUMENT` (refused
/// properties or a bad option).
#[napi(ts_args_type = "options: ConnectOptions", ts_return_type = "Promise<Session>")]
pub fn connect<'env>(env: &'env Env, options: Unknown<'_>) -> napi::Result<Object<'env>> {
    let options = self::options(env, &options);
    // The strong reference that keeps Node alive while the session is open.
    let keep_alive: ThreadsafeFunction<(), (), (), Status, false, false> = env
        .create_function_from_closure::<(), (), _>("usherSession", |_| Ok(()))?
        .build_threadsafe_function()
        .build()?;
    runtime::promise(env, async move {
        let inner = usher_core::client::Session::connect(options?).await?;
        let closed = inner.closed();
        usher_core::runtime::shared().spawn(async move {
            closed.await;
            drop(keep_alive);
        });
        Ok(Session { inner, drivers: Drivers::default() })
    })
}

#[napi]
impl Session {
    /// The session's id (`8f3a2c41d09e7b15-0000000000000007`).
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The name of the server holding the session (`$ServerName`).
    #[napi(getter)]
    pub fn server_name(&self) -> String {
        self.inner.server_name().to_owned()
    }

    /// The session's assigned roles now (sorted), as last told by the server.
    #[napi(getter)]
    pub fn roles(&self) -> Vec<String> {
        self.inner.roles()
    }

    /// Why the session ended (`CLOSED_BY_CONTROLLER`, ...), or `null` while open.
    #[napi(getter, ts_return_type = "CloseReason | null")]
    pub fn close_reason(&self) -> Option<&'static str> {
        self.inner.close_reason().map(|r| r.as_str())
    }

    /// Resolves with the close reason when the session ends.
    #[napi(ts_return_type = "Promise<CloseReason>")]
    pub fn closed<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let closed = self.inner.closed();
        runtime::promise(env, async move { Ok(closed.await.as_str()) })
    }

    /// Resolves with the new roles at the next change a controller makes;
    /// rejects with `SESSION_CLOSED` if the session ends first.
    #[napi(ts_return_type = "Promise<string[]>")]
    pub fn roles_changed<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        runtime::promise(env, self.inner.roles_changed())
    }

    /// Closes the session; resolves once the server has closed it and every
    /// listener of the session has had its `onClose`. Closing twice is fine.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let close = self.inner.close();
        let drivers = self.drivers.clone();
        runtime::promise(env, async move {
            close.await?;
            drivers.finished().await;
            Ok(())
        })
    }

    /// Client control: operations on other sessions (SPEC §4.1).
    #[napi(getter)]
    pub fn clients(&self) -> ClientControl {
        ClientControl::new(self.inner.clients(), self.drivers.clone())
    }

    /// Topics: add, remove, update, subscribe.
    #[napi(getter)]
    pub fn topics(&self) -> Topics {
        Topics::new(self.inner.topics(), self.drivers.clone())
    }
}
