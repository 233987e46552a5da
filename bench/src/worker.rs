//! A load-generator worker process: opens thousands of raw sessions (see
//! [`crate::frame`]) from one 127.0.0.x source address on a single-threaded
//! runtime, and holds them on one more thread ([`crate::hold`]), which
//! records on the shared monotonic clock when each sees its close.
//!
//! The coordinator ([`crate::fleet`]) starts it as `usher-bench worker URL
//! SOURCE INDEX` and talks to it in lines: commands on stdin, one answer
//! line each on stdout.
//!
//! - `open COUNT FIRST CONCURRENCY [PRINCIPAL PASSWORD]` opens COUNT
//!   sessions, at most CONCURRENCY connecting at once; session number `g`
//!   (counting from FIRST across the fleet) proposes `Half='yes'` when `g`
//!   is even, else `Half='no'`, so `Half is 'yes'` selects exactly half.
//!   Answers `opened OK FAILED START_NS END_NS`.
//! - `closes EXPECTED TIMEOUT_MS` waits until EXPECTED tagged (`Half='yes'`)
//!   sessions have seen their close (or the timeout), then answers
//!   `closes TAGGED UNTAGGED FIRST_NS LAST_NS` and resets the counts.
//! - `drop` ends every session (closes the sockets); answers `dropped N`.
//! - `quit` (or end of input) exits.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, Semaphore};
use tokio::task::LocalSet;

use crate::clock::monotonic_ns;
use crate::hold::Holder;
use crate::{frame, raw};

struct Worker {
    server: SocketAddr,
    source: Ipv4Addr,
    index: usize,
    held: Arc<Holder>,
}

/// Runs a worker until `quit` or end of input.
pub fn main(args: &[String]) -> anyhow::Result<()> {
    let [url, source, index] = args else { bail!("usage: usher-bench worker URL SOURCE-IP INDEX") };
    let (server, source) = (raw::parse_url(url)?, source.parse().context("source address")?);
    let index = index.parse().context("worker index")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let worker = Rc::new(Worker { server, source, index, held: Holder::start()? });
    LocalSet::new().block_on(&rt, commands(worker))
}

async fn commands(worker: Rc<Worker>) -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["open", count, first, concurrency, rest @ ..] => {
                let credentials = match rest {
                    [p, pw] => Some(((*p).to_owned(), (*pw).to_owned())),
                    _ => None,
                };
                open(&worker, count.parse()?, first.parse()?, concurrency.parse()?, credentials).await
            }
            ["closes", expected, timeout_ms] => {
                let (expected, timeout): (u64, u64) = (expected.parse()?, timeout_ms.parse()?);
                let wait = worker.held.wait_tagged(expected);
                let _ = tokio::time::timeout(Duration::from_millis(timeout), wait).await;
                let s = worker.held.take_seen();
                format!("closes {} {} {} {}", s.tagged, s.untagged, s.first_ns, s.last_ns)
            }
            ["drop"] => format!("dropped {}", worker.held.clear()),
            ["quit"] => return Ok(()),
            _ => bail!("unknown command: {line}"),
        };
        println!("{answer}");
    }
    Ok(())
}

async fn open(
    worker: &Rc<Worker>,
    count: u64,
    first: u64,
    concurrency: usize,
    credentials: Option<(String, String)>,
) -> String {
    let permits = Rc::new(Semaphore::new(concurrency.max(1)));
    let done = Rc::new((Cell::new(0u64), Cell::new(0u64), Notify::new()));
    let start = monotonic_ns();
    for i in 0..count {
        let g = first + i;
        let tagged = g.is_multiple_of(2);
        let mut props = BTreeMap::new();
        props.insert("Half".to_owned(), if tagged { "yes" } else { "no" }.to_owned());
        props.insert("Worker".to_owned(), worker.index.to_string());
        let hello = raw::hello(credentials.as_ref().map(|(p, pw)| (p.as_str(), pw.as_str())), props);
        let (w, permits, done) = (worker.clone(), permits.clone(), done.clone());
        tokio::task::spawn_local(async move {
            let opened = {
                let Ok(_permit) = permits.acquire().await else { return };
                frame::connect(w.server, w.source, &hello).await
            };
            let held = opened.and_then(|(stream, _welcome, rest)| w.held.add(stream, tagged, rest));
            match held {
                Ok(()) => done.0.set(done.0.get() + 1),
                Err(e) => {
                    eprintln!("worker {}: session {g}: {e:#}", w.index);
                    done.1.set(done.1.get() + 1);
                }
            }
            done.2.notify_one();
        });
    }
    while done.0.get() + done.1.get() < count {
        done.2.notified().await;
    }
    format!("opened {} {} {start} {}", done.0.get(), done.1.get(), monotonic_ns())
}
