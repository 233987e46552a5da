//! A load-generator worker process: holds thousands of raw sessions (see
//! [`crate::raw`]) on one thread, bound to one 127.0.0.x source address,
//! and records on the shared monotonic clock when each sees its close.
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

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, Semaphore};
use tokio::task::{JoinHandle, LocalSet};
use tokio_tungstenite::tungstenite::Message;
use usher_core::protocol::{Push, ServerMessage, decode};

use crate::clock::monotonic_ns;
use crate::raw;

/// Closes seen since the last report.
#[derive(Default)]
struct Closes {
    tagged: Cell<u64>,
    untagged: Cell<u64>,
    first_ns: Cell<u64>,
    last_ns: Cell<u64>,
    changed: Notify,
}

impl Closes {
    fn record(&self, tagged: bool, at: u64) {
        if tagged {
            self.tagged.set(self.tagged.get() + 1);
            if self.first_ns.get() == 0 || at < self.first_ns.get() {
                self.first_ns.set(at);
            }
            self.last_ns.set(self.last_ns.get().max(at));
        } else {
            self.untagged.set(self.untagged.get() + 1);
        }
        self.changed.notify_one();
    }

    fn take(&self) -> (u64, u64, u64, u64) {
        let out = (self.tagged.get(), self.untagged.get(), self.first_ns.get(), self.last_ns.get());
        self.tagged.set(0);
        self.untagged.set(0);
        self.first_ns.set(0);
        self.last_ns.set(0);
        out
    }
}

struct Worker {
    server: SocketAddr,
    source: Ipv4Addr,
    index: usize,
    closes: Rc<Closes>,
    sessions: RefCell<Vec<JoinHandle<()>>>,
}

/// Runs a worker until `quit` or end of input.
pub fn main(args: &[String]) -> anyhow::Result<()> {
    let [url, source, index] = args else { bail!("usage: usher-bench worker URL SOURCE-IP INDEX") };
    let worker = Rc::new(Worker {
        server: raw::parse_url(url)?,
        source: source.parse().context("source address")?,
        index: index.parse().context("worker index")?,
        closes: Rc::default(),
        sessions: RefCell::default(),
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
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
                let wait = async {
                    while worker.closes.tagged.get() < expected {
                        worker.closes.changed.notified().await;
                    }
                };
                let _ = tokio::time::timeout(Duration::from_millis(timeout), wait).await;
                let (t, u, first, last) = worker.closes.take();
                format!("closes {t} {u} {first} {last}")
            }
            ["drop"] => {
                let handles = std::mem::take(&mut *worker.sessions.borrow_mut());
                for h in &handles {
                    h.abort();
                }
                // Let the aborted tasks run their drops (closing the sockets).
                tokio::task::yield_now().await;
                format!("dropped {}", handles.len())
            }
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
        let handle = tokio::task::spawn_local(async move {
            let opened = {
                let Ok(_permit) = permits.acquire().await else { return };
                raw::connect(w.server, Some(w.source), None, hello).await
            };
            let ws = match opened {
                Ok((ws, _welcome)) => {
                    done.0.set(done.0.get() + 1);
                    done.2.notify_one();
                    ws
                }
                Err(e) => {
                    eprintln!("worker {}: session {g}: {e:#}", w.index);
                    done.1.set(done.1.get() + 1);
                    done.2.notify_one();
                    return;
                }
            };
            hold(ws, tagged, &w.closes).await;
        });
        worker.sessions.borrow_mut().push(handle);
    }
    while done.0.get() + done.1.get() < count {
        done.2.notified().await;
    }
    format!("opened {} {} {start} {}", done.0.get(), done.1.get(), monotonic_ns())
}

/// Reads until the session ends; records when its close was first seen:
/// the server's `Closing` push, or the socket closing, whichever is first.
/// Then holds the socket, unread, until the task is aborted.
async fn hold(mut ws: raw::Ws, tagged: bool, closes: &Closes) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => {
                if let Ok(ServerMessage::Push(Push::Closing { .. })) = decode::<ServerMessage>(&b) {
                    break;
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            // Pings are answered by tungstenite on the next read.
            Some(Ok(_)) => {}
        }
    }
    closes.record(tagged, monotonic_ns());
    // Keep the socket until `drop` (or exit): tearing it down now would put
    // this process's close(2) work on the 2 cores while the server is still
    // closing the other targets, and the measurement is about the server.
    std::future::pending::<()>().await;
    drop(ws);
}
