//! Shared by the integration tests: an in-process server on port 0, sessions
//! for the embedded principals, and waiting with a deadline (never sleeping).

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use usher_core::client::{ConnectOptions, Session};

pub const ADMIN_PW: &str = "admin-test-pw";
pub const CONTROL_PW: &str = "control-test-pw";
pub const CLIENT_PW: &str = "client-test-pw";

/// Generous: only a broken implementation waits this long.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub async fn server() -> usher_server::ServerHandle {
    usher_server::start(usher_server::Config::for_tests(ADMIN_PW, CONTROL_PW, CLIENT_PW))
        .await
        .expect("test server starts")
}

pub fn options(url: &str, principal: Option<&str>) -> ConnectOptions {
    let options = ConnectOptions::new(url);
    match principal {
        Some("admin") => options.principal("admin").password(ADMIN_PW),
        Some("control") => options.principal("control").password(CONTROL_PW),
        Some("client") => options.principal("client").password(CLIENT_PW),
        Some(other) => options.principal(other),
        None => options,
    }
}

pub async fn connect(url: &str, principal: Option<&str>) -> Session {
    within(Session::connect(options(url, principal))).await.expect("connect")
}

/// An anonymous session with one user property.
pub async fn tagged(url: &str, key: &str, value: &str) -> Session {
    within(Session::connect(options(url, None).property(key, value))).await.expect("connect")
}

pub async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f).await.expect("deadline passed")
}

/// The next item of `stream` satisfying `pred`, within the deadline.
pub async fn next_matching<S, T, E>(stream: &mut S, mut pred: impl FnMut(&T) -> bool) -> T
where
    S: Stream<Item = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    within(async {
        loop {
            match stream.next().await {
                Some(Ok(item)) if pred(&item) => return item,
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("stream error: {e:?}"),
                None => panic!("stream ended"),
            }
        }
    })
    .await
}
