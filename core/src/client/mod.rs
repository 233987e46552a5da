//! The async client: [`Session`], [`ClientControl`], [`Topics`] (SPEC §4.6,
//! Rust column). Runs on the caller's tokio runtime.
//!
//! ```no_run
//! # async fn demo() -> usher_core::error::Result<()> {
//! use usher_core::client::{ConnectOptions, Session};
//! let session = Session::connect(ConnectOptions::new("ws://127.0.0.1:8080").principal("control").password("pw")).await?;
//! let closed = session.clients().close("$Principal is 'guest'").await?;
//! println!("closed {closed} sessions");
//! session.close().await
//! # }
//! ```
//!
//! - [`options`]: [`ConnectOptions`] and the parameters of registrations;
//! - [`session`]: [`Session`] (identity, roles, close);
//! - [`client_control`]: [`ClientControl`] (SPEC §4.1 operations);
//! - [`topics`]: [`Topics`] (add, remove, update, subscribe);
//! - [`listener`]: listener traits, stream handles, registrations;
//! - `connection`: the socket, the reader and writer tasks, correlation.
//!
//! Every handle is `Clone + Send + Sync` and every async method returns a
//! `Send + 'static` future owning its arguments. Many requests may be in
//! flight; beyond the server's `max_in_flight` the client queues (FIFO).

pub mod client_control;
mod connection;
pub mod listener;
pub mod options;
pub mod session;
pub mod topics;

#[cfg(test)]
mod tests;

pub use client_control::{ClientControl, NO_ROLES};
pub use listener::{
    EventStream, ListenerRegistration, QueueEventListener, QueueEventStream, SessionEventListener,
    SessionEventStream, StreamItem, Subscription,
};
pub use options::{ConnectOptions, ControlOptions, SessionEventParams, TlsOptions, default_environment};
pub use session::Session;
pub use topics::Topics;

/// The future every async method of the client returns: `Send + 'static`,
/// owning its arguments and borrowing nothing, so it can be spawned, stored
/// or handed to a binding's runtime as is (the handle it came from may be
/// dropped).
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;
