//! A queue event handler that turns conflation on when a session's outbound
//! queue reaches its upper threshold and off again at the lower one, shown
//! with a real slow subscriber: the controller publishes to a few topics
//! faster than the subscriber reads, the subscriber's queue on the server
//! grows, the handler conflates it (at most one pending value per topic), the
//! queue shrinks, the handler turns conflation off.
//!
//! The controller needs `CLIENT_CONTROL` and `TOPIC_CONTROL` (the embedded
//! `control` or `admin` principal).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use usher_core::SessionId;
use usher_core::client::{ClientControl, ConnectOptions, QueueEventListener, Session};
use usher_core::protocol::QueuePolicy;
use usher_examples::{controller, run_tag, url};

/// What the handler saw, for `main` to follow.
#[derive(Debug)]
enum Seen {
    Upper(SessionId),
    Lower(SessionId),
    Policy(SessionId, bool),
}

struct ConflateWhenBusy {
    clients: ClientControl,
    // Bounded; `try_send` drops a report when main is behind, which only
    // affects what this example prints, never the conflation itself.
    report: mpsc::Sender<Seen>,
}

impl QueueEventListener for ConflateWhenBusy {
    fn on_upper_threshold_crossed(&mut self, session: SessionId, policy: QueuePolicy) {
        println!(
            "{session}: upper threshold ({}% of {}) crossed: conflation on",
            policy.upper_threshold, policy.max_depth
        );
        // Listener methods must not block: the call runs on its own task.
        tokio::spawn(self.clients.set_conflated(session, true));
        let _ = self.report.try_send(Seen::Upper(session));
    }

    fn on_lower_threshold_crossed(&mut self, session: SessionId, policy: QueuePolicy) {
        println!("{session}: lower threshold ({}%) crossed: conflation off", policy.lower_threshold);
        tokio::spawn(self.clients.set_conflated(session, false));
        let _ = self.report.try_send(Seen::Lower(session));
    }

    fn on_policy_changed(&mut self, session: SessionId, policy: QueuePolicy) {
        println!("{session}: policy now conflated={}", policy.conflated);
        let _ = self.report.try_send(Seen::Policy(session, policy.conflated));
    }

    fn on_error(&mut self, error: usher_core::Error) {
        eprintln!("queue handler failed: {error}");
    }
}

/// A subscriber that reads one value every few milliseconds. Its small
/// client-side buffer fills at once, so its socket backs up and the server's
/// queue for it grows.
async fn slow_subscriber(selector: String) -> anyhow::Result<Session> {
    let options =
        ConnectOptions::new(url()).listener_buffer(8).listener_stall_timeout(Duration::from_secs(60));
    let session = Session::connect(options).await?;
    let mut values = session.topics().subscribe(selector).await?;
    tokio::spawn(async move {
        while let Some(Ok(_value)) = values.next().await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    Ok(session)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let control = controller().await?;
    let clients = control.clients();
    let (report, mut seen) = mpsc::channel(64);
    let handler =
        clients.set_queue_event_handler(ConflateWhenBusy { clients: clients.clone(), report }).await?;

    let base = format!("examples/queue-{}", run_tag());
    let topics: Vec<String> = (0..4).map(|i| format!("{base}/t{i}")).collect();
    for topic in &topics {
        control.topics().add(topic.clone(), Vec::new()).await?;
    }
    let subscriber = slow_subscriber(format!("{base}/*")).await?;
    println!("slow subscriber {}", subscriber.id());

    // Publish until the subscriber's queue has been conflated.
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (stop, topics, topic_ops) = (Arc::clone(&stop), topics.clone(), control.topics());
        tokio::spawn(async move {
            let value = vec![b'x'; 1024];
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) && sent < 200_000 {
                // 32 updates in flight at a time: many requests share one session.
                let batch = (0..32).map(|i| {
                    let topic = &topics[((sent + i) % topics.len() as u64) as usize];
                    topic_ops.update(topic.clone(), value.clone())
                });
                for result in futures_util::future::join_all(batch).await {
                    result?;
                }
                sent += 32;
            }
            anyhow::Ok(sent)
        })
    };

    let target = subscriber.id();
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(60), async {
        let (mut upper, mut on, mut lower, mut off) = (false, false, false, false);
        while let Some(event) = seen.recv().await {
            println!("{:>6} ms {event:?}", started.elapsed().as_millis());
            match event {
                Seen::Upper(id) if id == target => {
                    upper = true;
                    stop.store(true, Ordering::Relaxed);
                }
                Seen::Policy(id, true) if id == target && upper => on = true,
                Seen::Lower(id) if id == target && upper => lower = true,
                Seen::Policy(id, false) if id == target && lower => off = true,
                _ => {}
            }
            if upper && on && lower && off {
                return true;
            }
        }
        false
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let sent = publisher.await??;
    println!("published {sent} updates");
    anyhow::ensure!(outcome == Ok(true), "did not see upper, conflation on, lower, conflation off in time");
    println!("done: conflation followed the queue up and down");

    println!("{:>6} ms closing", started.elapsed().as_millis());
    handler.close().await?;
    for topic in topics {
        control.topics().remove(topic).await?;
    }
    subscriber.close().await?;
    control.close().await?;
    println!("{:>6} ms closed", started.elapsed().as_millis());
    Ok(())
}
