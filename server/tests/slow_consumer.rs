//! Topics and the outbound queue (SPEC §5) with a subscriber that really
//! stops reading its socket.

mod support;

use std::collections::BTreeMap;

use support::*;
use usher_core::SessionId;
use usher_core::protocol::{CloseReason, Push, QueueEvent, Request, SessionEvent, SessionState};

const TOPICS: usize = 20;
const VALUE: usize = 16 * 1024;

fn slow_config() -> usher_server::Config {
    let mut config = config();
    let l = &mut config.listeners[0];
    l.queue.max_depth = 50; // U = 40, L = 10
    l.queue.max_bytes = 64 << 20;
    l.send_buffer_bytes = Some(4096);
    config
}

fn value(round: u32, topic: usize) -> Vec<u8> {
    let mut v = vec![0u8; VALUE];
    v[..4].copy_from_slice(&round.to_be_bytes());
    v[4] = topic as u8;
    v
}

async fn publish_round(publisher: &mut Client, round: u32) -> anyhow::Result<()> {
    for t in 0..TOPICS {
        publisher.ok(Request::UpdateTopic { path: format!("t/{t}"), value: value(round, t) }).await?;
    }
    Ok(())
}

fn queue_events_for(c: &mut Client, session: SessionId) -> Vec<QueueEvent> {
    c.take_pushes()
        .into_iter()
        .filter_map(|p| match p {
            Push::QueueEvent { event, .. } if event.session() == session => Some(event),
            _ => None,
        })
        .collect()
}

async fn setup(server: &usher_server::ServerHandle) -> anyhow::Result<(Client, Client)> {
    let mut publisher = control(server.url()).await?;
    for t in 0..TOPICS {
        publisher.ok(Request::AddTopic { path: format!("t/{t}"), value: value(0, t) }).await?;
    }
    let mut subscriber = slow_anonymous(server.url()).await?;
    subscriber.ok(Request::Subscribe { selector: "t/*".into() }).await?;
    Ok((publisher, subscriber))
}

#[tokio::test]
async fn upper_then_conflation_then_lower() -> anyhow::Result<()> {
    let server = usher_server::start(slow_config()).await?;
    let (mut controller, mut subscriber) = setup(&server).await?;
    // The publisher is the controller too: a queue event caused by an update
    // is queued to it before that update's reply.
    controller.ok(Request::SetQueueHandler { registration: 1 }).await?;
    let sub = subscriber.id();
    // The subscriber reads nothing from here on. Publish until the upper
    // threshold is reported.
    let mut events = Vec::new();
    let mut sent = 0u32;
    while !events.iter().any(|e| matches!(e, QueueEvent::UpperThresholdCrossed { .. })) {
        anyhow::ensure!(sent < 400, "no upper threshold event after {sent} updates");
        let t = sent as usize % TOPICS;
        controller.ok(Request::UpdateTopic { path: format!("t/{t}"), value: value(1, t) }).await?;
        events.extend(queue_events_for(&mut controller, sub));
        sent += 1;
    }
    assert!(
        matches!(&events[..], [QueueEvent::UpperThresholdCrossed { policy, .. }] if !policy.conflated),
        "{events:?}"
    );
    // The handler's reaction: conflation on.
    controller.ok(Request::SetConflated { target: sub.into(), conflated: true, max_targets: None }).await?;
    // Far more updates than max_depth: conflated, the queue holds one value
    // per topic, so the subscriber is not closed and no second upper comes.
    let last_round = 7;
    for r in 2..=last_round {
        publish_round(&mut controller, r).await?;
    }
    assert_eq!(controller.get_properties(sub, &["$SessionId"]).await?["$SessionId"], sub.to_string());
    let events = queue_events_for(&mut controller, sub);
    assert!(
        matches!(&events[..], [QueueEvent::PolicyChanged { policy, .. }] if policy.conflated),
        "{events:?}"
    );
    // Reading resumes: the latest value of every topic arrives, and the queue
    // drains to the lower threshold.
    let mut latest: BTreeMap<String, u32> = BTreeMap::new();
    while latest.len() < TOPICS || latest.values().any(|r| *r != last_round) {
        match subscriber.push_where(|p| matches!(p, Push::TopicValue { .. })).await? {
            Push::TopicValue { path, value } => {
                let r = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                latest.insert(path, r);
            }
            _ => unreachable!(),
        }
    }
    let lower = controller
        .push_where(|p| matches!(p, Push::QueueEvent { event: QueueEvent::LowerThresholdCrossed { session, .. }, .. } if *session == sub))
        .await?;
    assert!(
        matches!(lower, Push::QueueEvent { event: QueueEvent::LowerThresholdCrossed { policy, .. }, .. } if policy.conflated)
    );
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_at_the_limit() -> anyhow::Result<()> {
    let server = usher_server::start(slow_config()).await?;
    let (mut publisher, subscriber) = setup(&server).await?;
    let mut watcher = control(server.url()).await?;
    watcher
        .ok(Request::AddSessionListener { registration: 1, filter: None, keys: vec![], after: None })
        .await?;
    let sub = subscriber.id();
    let is_closed = |p: &Push| matches!(p, Push::SessionEvent { event: SessionEvent::State { session, state: SessionState::Closed, .. }, .. } if *session == sub);
    let mut round = 1;
    loop {
        anyhow::ensure!(round < 20, "still open after {round} rounds");
        publish_round(&mut publisher, round).await?;
        watcher.get_properties(watcher.id(), &["$SessionId"]).await?;
        if watcher.take_pushes().iter().any(is_closed) {
            break;
        }
        round += 1;
    }
    let closed =
        watcher.arrivals.iter().find_map(|a| match a {
            Arrival::Push(Push::SessionEvent {
                event: SessionEvent::State { session, reason, .. }, ..
            }) if *session == sub => *reason,
            _ => None,
        });
    assert_eq!(closed, Some(CloseReason::MessageQueueLimitReached));
    // Everyone else keeps working.
    publisher.ok(Request::UpdateTopic { path: "t/0".into(), value: vec![1] }).await?;
    drop(subscriber);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn topic_permissions_and_losing_read() -> anyhow::Result<()> {
    let mut config = config();
    config.limits.max_subscriptions = 4;
    let server = usher_server::start(config).await?;
    let mut client = anonymous(server.url(), &[]).await?;
    let e = client.err(Request::AddTopic { path: "a/b".into(), value: vec![1] }).await?;
    assert_denied(&e, "MODIFY_TOPIC");
    let mut publisher = control(server.url()).await?;
    publisher.ok(Request::AddTopic { path: "a/b".into(), value: vec![1] }).await?;
    let e = client.err(Request::UpdateTopic { path: "a/b".into(), value: vec![2] }).await?;
    assert_denied(&e, "UPDATE_TOPIC");
    client.ok(Request::Subscribe { selector: "a/*".into() }).await?;
    // The current value came first.
    assert_eq!(
        client.push_where(|p| matches!(p, Push::TopicValue { .. })).await?,
        Push::TopicValue { path: "a/b".into(), value: vec![1] }
    );
    publisher.ok(Request::UpdateTopic { path: "a/b".into(), value: vec![2] }).await?;
    assert_eq!(
        client.push_where(|p| matches!(p, Push::TopicValue { .. })).await?,
        Push::TopicValue { path: "a/b".into(), value: vec![2] }
    );
    // Losing CLIENT (READ_TOPIC) drops the subscription.
    let mut admin = admin(server.url()).await?;
    admin.ok(change_roles(client.id(), &["CLIENT"], &[])).await?;
    client.push_where(|p| *p == Push::TopicUnsubscribed { path: "a/b".into() }).await?;
    publisher.ok(Request::UpdateTopic { path: "a/b".into(), value: vec![3] }).await?;
    let e = client.err(Request::Subscribe { selector: "a/*".into() }).await?;
    assert_denied(&e, "SELECT_TOPIC");
    assert!(
        !client
            .take_pushes()
            .iter()
            .any(|p| matches!(p, Push::TopicValue { value, .. } if value == &vec![3]))
    );
    // Subscriptions are bounded per session.
    let mut config_sub = anonymous(server.url(), &[]).await?;
    for n in 0..4 {
        config_sub.ok(Request::Subscribe { selector: format!("s/{n}") }).await?;
    }
    let e = config_sub.err(Request::Subscribe { selector: "s/x".into() }).await?;
    assert_eq!(e.kind, usher_core::ErrorKind::LimitExceeded);
    let e = publisher.err(Request::UpdateTopic { path: "a//b".into(), value: vec![] }).await?;
    assert_eq!(e.kind, usher_core::ErrorKind::InvalidArgument);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn throttling_paces_writes() -> anyhow::Result<()> {
    let server = server().await?;
    let mut publisher = control(server.url()).await?;
    publisher.ok(Request::AddTopic { path: "p".into(), value: vec![0] }).await?;
    let mut sub = anonymous(server.url(), &[]).await?;
    sub.ok(Request::Subscribe { selector: "p".into() }).await?;
    sub.push_where(|p| matches!(p, Push::TopicValue { .. })).await?;
    let throttle = Request::SetThrottled {
        target: sub.id().into(),
        throttler: usher_core::protocol::Throttler::MessagesPerSecond(20),
        max_targets: None,
    };
    publisher.ok(throttle).await?;
    let start = std::time::Instant::now();
    for n in 1..=11u8 {
        publisher.ok(Request::UpdateTopic { path: "p".into(), value: vec![n] }).await?;
    }
    for n in 1..=11u8 {
        let got = sub.push_where(|p| matches!(p, Push::TopicValue { .. })).await?;
        assert_eq!(got, Push::TopicValue { path: "p".into(), value: vec![n] });
    }
    // 11 messages at 20/s: at least 10 intervals of 50 ms.
    let elapsed = start.elapsed();
    assert!(elapsed >= std::time::Duration::from_millis(450), "{elapsed:?}");
    server.shutdown().await;
    Ok(())
}
