//! P8: queue event latency. A controller (the real Rust client, `control`)
//! registers a queue handler and is also the publisher; each sample is a
//! fresh stalled consumer (a raw session with a 4 KiB receive buffer that
//! subscribes to its own topic and then never reads). The publisher updates
//! that topic one update at a time (each awaited) until the handler reports
//! the consumer's upper-threshold crossing; the latency is from sending the
//! update that caused it to the handler being called.
//!
//! Which update caused it: the server pushes the queue event while it
//! handles the update, before it queues the update's reply, and this
//! scenario runs on a current-thread runtime, whose run queue is FIFO: the
//! handler's task is woken (and so runs) before the publisher's. The
//! handler reads the index of the update in flight when it is called.
//!
//! p99 (nearest rank) over the samples of a run; repeated.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use usher_core::SessionId;
use usher_core::client::QueueEventListener;
use usher_core::protocol::{ClientMessage, QueuePolicy, Request, ServerMessage, decode, encode};

use super::{Ctx, controller, percentile, report};
use crate::clock::monotonic_ns;
use crate::raw;

/// Bytes per topic value: large enough that the socket buffers absorb few
/// updates before the queue grows, small enough that U = 800 of them stay
/// well under the 4 MiB queue limit.
const VALUE_BYTES: usize = 1024;
/// Bound on the updates one sample may take.
const MAX_UPDATES: u64 = 100_000;

#[derive(Default)]
struct Fired {
    /// (session, monotonic ns when the handler was called, update in flight).
    events: Mutex<Vec<(SessionId, u64, u64)>>,
    /// Index of the update in flight.
    sending: AtomicU64,
}

struct Handler(Arc<Fired>);

impl QueueEventListener for Handler {
    fn on_upper_threshold_crossed(&mut self, session_id: SessionId, _policy: QueuePolicy) {
        let at = monotonic_ns();
        let k = self.0.sending.load(Ordering::SeqCst);
        self.0.events.lock().unwrap_or_else(|e| e.into_inner()).push((session_id, at, k));
    }

    fn on_lower_threshold_crossed(&mut self, _session_id: SessionId, _policy: QueuePolicy) {}
}

/// A consumer subscribed to `path` that will never read again.
async fn stalled_consumer(url: &str, path: &str) -> anyhow::Result<(raw::Ws, SessionId)> {
    let (mut ws, welcome) =
        raw::connect(raw::parse_url(url)?, None, Some(4096), raw::hello(None, BTreeMap::new())).await?;
    let request = ClientMessage::Request { id: 1, request: Request::Subscribe { selector: path.to_owned() } };
    ws.send(Message::Binary(Bytes::from(encode(&request)))).await?;
    // The current value, then the reply.
    for _ in 0..16 {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => {
                if let Ok(ServerMessage::Response(r)) = decode::<ServerMessage>(&b) {
                    r.result.map_err(|e| anyhow::anyhow!("subscribe: {}", e.message))?;
                    return Ok((ws, welcome.session_id));
                }
            }
            Some(Ok(_)) => {}
            _ => bail!("the consumer closed while subscribing"),
        }
    }
    bail!("no reply to the consumer's subscribe")
}

pub(super) async fn p8(ctx: &Ctx) -> anyhow::Result<()> {
    let server = ctx.start_server()?;
    let control = controller(server.url()).await?;
    let fired = Arc::new(Fired::default());
    let _registration = control.clients().set_queue_event_handler(Handler(fired.clone())).await?;
    let topics = control.topics();
    let value = vec![b'v'; VALUE_BYTES];
    let (mut p99s, mut p50s, mut updates_per_sample) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..ctx.sizes.runs {
        let mut latencies = Vec::new();
        for c in 0..ctx.sizes.p8_samples {
            let path = format!("bench/p8/{run}/{c}");
            topics.add(path.clone(), value.clone()).await?;
            let (consumer, id) = stalled_consumer(server.url(), &path).await?;
            let mut sent = Vec::new();
            let found = loop {
                let k = sent.len() as u64;
                if k >= MAX_UPDATES {
                    bail!("P8: no upper-threshold event after {MAX_UPDATES} updates");
                }
                fired.sending.store(k, Ordering::SeqCst);
                sent.push(monotonic_ns());
                topics.update(path.clone(), value.clone()).await.context("P8: update")?;
                let events = fired.events.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(&(_, at, k)) = events.iter().find(|(s, _, _)| *s == id) {
                    break (at, k);
                }
            };
            let (at, k) = found;
            latencies.push(at.saturating_sub(sent[k as usize]) as f64 / 1e6);
            updates_per_sample.push(sent.len() as f64);
            drop(consumer);
            topics.remove(path).await?;
        }
        p99s.push(percentile(&latencies, 0.99).context("no samples")?);
        p50s.push(percentile(&latencies, 0.5).context("no samples")?);
    }
    report("BENCH", "P8", "queue_event_latency_p99", "ms", &p99s, Some("≤ 1 ms"));
    report("INFO", "P8", "queue_event_latency_p50", "ms", &p50s, None);
    report("INFO", "P8", "updates_to_upper_threshold", "updates", &updates_per_sample, None);
    control.close().await?;
    Ok(())
}
