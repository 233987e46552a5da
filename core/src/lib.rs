//! `usher-core`: everything the Usher server, the Rust client, the CLI and the
//! language bindings share.
//!
//! - [`id`]: session ids and "id or filter" targets (SPEC §2.1);
//! - [`props`]: fixed and user properties, their limits and the canonical
//!   `$Roles` text (SPEC §2.2);
//! - [`intern`]: the symbol table that lets compiled filters and the server's
//!   registry compare keys and roles as integers;
//! - [`filter`]: the session filter language (SPEC §3);
//! - [`security`]: permissions, roles, the security store and the no-escalation
//!   and dominance rules (SPEC §2.3, §4.1);
//! - [`protocol`]: the wire messages and their MessagePack codec (SPEC §6);
//! - [`error`]: the one error taxonomy of SPEC §4.5;
//! - [`client`]: the async client (`Session`, `ClientControl`, `Topics`);
//! - [`runtime`]: the one tokio runtime the language bindings share (SPEC §1).
//!
//! This crate knows nothing of PyO3, napi or UniFFI, and nothing of the server.

pub mod client;
pub mod error;
pub mod filter;
pub mod id;
pub mod intern;
pub mod loop_task;
pub mod props;
pub mod protocol;
pub mod runtime;
pub mod security;
#[cfg(target_os = "linux")]
pub mod socket_watch;

pub use error::{Error, ErrorDetails, ErrorKind};
pub use id::{SessionId, Target};
