//! One function per subcommand, on the core client.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use futures_util::StreamExt;
use usher_core::client::{ConnectOptions, Session, SessionEventParams};
use usher_core::protocol::{ClientType, FetchRequest, Throttler};
use usher_core::{ErrorKind, SessionId, Target};

use crate::output;
use crate::{Cli, Command, FAILED, OnOff, PropsCommand, USAGE};

/// Above this many matches, `close FILTER` asks first.
const CONFIRM_ABOVE: u64 = 10;

/// Why the command failed: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn usage(message: impl std::fmt::Display) -> Self {
        Self { code: USAGE, message: format!("usage error: {message}\n") }
    }

    fn failed(message: impl std::fmt::Display) -> Self {
        Self { code: FAILED, message: format!("error: {message}\n") }
    }

    fn from_error(e: &usher_core::Error, filter: Option<&str>) -> Self {
        Self { code: FAILED, message: output::error_text(e, filter) }
    }
}

type Outcome = Result<(), Failure>;

/// The filter text of a target, for error rendering.
fn filter_of(target: &str) -> Option<&str> {
    Target::parse(target).is_filter().then_some(target)
}

fn password() -> Result<Option<String>, Failure> {
    if let Ok(p) = std::env::var("USHER_PASSWORD") {
        return Ok(Some(p));
    }
    rpassword::prompt_password("password: ")
        .map(Some)
        .map_err(|e| Failure::failed(format!("cannot read the password (set USHER_PASSWORD): {e}")))
}

async fn connect(cli: &Cli) -> Result<Session, Failure> {
    let options = connect_options(cli)?;
    open(cli, options).await
}

/// The options of `--url` / `--principal`, the password read once.
fn connect_options(cli: &Cli) -> Result<ConnectOptions, Failure> {
    let mut options = ConnectOptions::new(cli.url.clone()).client_type(ClientType::Cli);
    // An empty USHER_PRINCIPAL means anonymous, as an unset one does.
    if let Some(principal) = cli.principal.as_ref().filter(|p| !p.is_empty()) {
        options = options.principal(principal.clone());
        if let Some(password) = password()? {
            options = options.password(password);
        }
    }
    Ok(options)
}

async fn open(cli: &Cli, options: ConnectOptions) -> Result<Session, Failure> {
    Session::connect(options).await.map_err(|e| match e.kind {
        ErrorKind::AuthenticationFailed => Failure::failed(format!(
            "authentication failed for {}",
            cli.principal.as_deref().unwrap_or("an anonymous session")
        )),
        _ => Failure::from_error(&e, None),
    })
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Outcome {
    match &cli.command {
        Command::HashPassword => return hash_password(),
        Command::Connect { count, properties } => return hold(&cli, *count, properties).await,
        _ => {}
    }
    let session = connect(&cli).await?;
    let result = match &cli.command {
        Command::Sessions { filter, properties, limit, json } => {
            sessions(&session, filter.as_deref().unwrap_or("all"), properties, *limit, *json).await
        }
        Command::Count { filter } => count(&session, filter).await,
        Command::Close { target, yes } => close(&session, target, *yes).await,
        Command::Roles { target, add, remove } => roles(&session, target, add, remove).await,
        Command::Props { action: PropsCommand::Get { id, keys } } => props_get(&session, id, keys).await,
        Command::Props { action: PropsCommand::Set { target, assignments } } => {
            props_set(&session, target, assignments).await
        }
        Command::Conflate { target, state } => conflate(&session, target, *state).await,
        Command::Throttle { target, throttler } => throttle(&session, target, throttler).await,
        Command::Watch { filter, properties } => watch(&session, filter.clone(), properties).await,
        Command::QueueEvents => queue_events(&session).await,
        Command::HashPassword | Command::Connect { .. } => Ok(()),
    };
    let _ = session.close().await;
    result
}

async fn sessions(session: &Session, filter: &str, keys: &[String], limit: u64, json: bool) -> Outcome {
    let clients = session.clients();
    let mut shown = Vec::new();
    let mut cursor = None;
    let mut total = 0;
    while (shown.len() as u64) < limit {
        let page_size = (limit - shown.len() as u64).min(1000) as u32;
        let request =
            FetchRequest { filter: filter.to_owned(), keys: keys.to_vec(), limit: Some(page_size), cursor };
        let page =
            clients.fetch_sessions(request).await.map_err(|e| Failure::from_error(&e, Some(filter)))?;
        total = page.total;
        shown.extend(page.sessions);
        cursor = page.next_cursor;
        if !page.has_more || cursor.is_none() {
            break;
        }
    }
    shown.truncate(limit as usize);
    if json {
        let items: Vec<serde_json::Value> = shown
            .iter()
            .map(|s| serde_json::json!({ "id": s.id.to_string(), "properties": s.properties }))
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else {
        print!("{}", output::sessions_table(keys, &shown));
        println!("{} of {} matching sessions shown", shown.len(), total);
    }
    Ok(())
}

async fn count(session: &Session, filter: &str) -> Outcome {
    let result =
        session.clients().count_detailed(filter).await.map_err(|e| Failure::from_error(&e, Some(filter)))?;
    println!("{}", result.total);
    for (server, n) in &result.per_server {
        println!("  {server}: {n}");
    }
    for server in &result.unreachable {
        println!("  {server}: did not answer");
    }
    if result.unreachable.is_empty() { Ok(()) } else { Err(Failure::failed("some servers did not answer")) }
}

fn confirm(question: &str) -> Result<bool, Failure> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::failed(format!("reading stdin: {e}")))?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

async fn close(session: &Session, target: &str, yes: bool) -> Outcome {
    let target_value = Target::parse(target);
    let filter = filter_of(target);
    let mut clients = session.clients();
    if let (Target::Filter(f), false) = (&target_value, yes) {
        let matching = clients.count(f.clone()).await.map_err(|e| Failure::from_error(&e, filter))?;
        if matching == 0 {
            println!("no session matches; nothing closed");
            return Ok(());
        }
        if matching > CONFIRM_ABOVE && !confirm(&format!("{matching} sessions match. Close them all?"))? {
            println!("nothing closed");
            return Ok(());
        }
        // Race-free: if more match by the time the close runs than were
        // confirmed (or than may be closed unasked), it acts on none.
        clients = clients.max_targets(matching.max(CONFIRM_ABOVE));
    }
    let result = clients.close_detailed(target_value).await.map_err(|e| Failure::from_error(&e, filter))?;
    println!("closed {} session{}", result.total, plural(result.total));
    // In a cluster, how many on each server (one server: the line above says it all).
    if result.per_server.len() > 1 {
        for (server, n) in &result.per_server {
            println!("  {server}: {n}");
        }
    }
    if result.denied > 0 {
        println!("{} skipped: your roles do not hold theirs", result.denied);
    }
    routing(&result)
}

fn routing(result: &usher_core::protocol::FilterResult) -> Outcome {
    if result.unreachable.is_empty() {
        Ok(())
    } else {
        Err(Failure::failed(format!("servers did not answer: {}", result.unreachable.join(", "))))
    }
}

async fn roles(session: &Session, target: &str, add: &[String], remove: &[String]) -> Outcome {
    if add.is_empty() && remove.is_empty() {
        return Err(Failure::usage("give at least one --add ROLE or --remove ROLE"));
    }
    let result = session
        .clients()
        .change_roles_detailed(target, remove.to_vec(), add.to_vec())
        .await
        .map_err(|e| Failure::from_error(&e, filter_of(target)))?;
    println!("changed the roles of {} session{}", result.total, plural(result.total));
    if result.denied > 0 {
        println!("{} skipped: your roles do not hold theirs", result.denied);
    }
    routing(&result)
}

async fn props_get(session: &Session, id: &str, keys: &[String]) -> Outcome {
    let id: SessionId = id.parse().map_err(Failure::usage)?;
    let mut keys: Vec<String> =
        keys.iter().flat_map(|k| k.split(',')).filter(|k| !k.is_empty()).map(str::to_owned).collect();
    if keys.is_empty() {
        keys = vec!["*F".into(), "*U".into()];
    }
    let props = session
        .clients()
        .get_session_properties(id, keys)
        .await
        .map_err(|e| Failure::from_error(&e, None))?;
    for (k, v) in props {
        println!("{k}={v}");
    }
    Ok(())
}

fn parse_assignments(assignments: &[String]) -> Result<BTreeMap<String, Option<String>>, Failure> {
    assignments
        .iter()
        .map(|a| match a.split_once('=') {
            Some(("", _)) => Err(Failure::usage(format!("{a:?}: the key is empty"))),
            Some((k, "")) => Ok((k.to_owned(), None)),
            Some((k, v)) => Ok((k.to_owned(), Some(v.to_owned()))),
            None => Err(Failure::usage(format!("{a:?} is not K=V (K= removes K)"))),
        })
        .collect()
}

async fn props_set(session: &Session, target: &str, assignments: &[String]) -> Outcome {
    let properties = parse_assignments(assignments)?;
    let result = session
        .clients()
        .set_session_properties_detailed(target, properties)
        .await
        .map_err(|e| Failure::from_error(&e, filter_of(target)))?;
    println!("set properties on {} session{}", result.total, plural(result.total));
    if result.rejected > 0 {
        return Err(Failure::failed(format!(
            "{} sessions left unchanged: a property limit",
            result.rejected
        )));
    }
    routing(&result)
}

async fn conflate(session: &Session, target: &str, state: OnOff) -> Outcome {
    let on = state == OnOff::On;
    let result = session
        .clients()
        .set_conflated_detailed(target, on)
        .await
        .map_err(|e| Failure::from_error(&e, filter_of(target)))?;
    let word = if on { "on" } else { "off" };
    println!("conflation {word} for {} session{}", result.total, plural(result.total));
    routing(&result)
}

fn parse_throttler(text: &str) -> Result<Throttler, Failure> {
    let bad = || Failure::usage(format!("{text:?}: expected off, msgs=N or bytes=N"));
    match text.split_once('=') {
        None if text == "off" => Ok(Throttler::Unthrottled),
        Some(("msgs", n)) => n.parse().map(Throttler::MessagesPerSecond).map_err(|_| bad()),
        Some(("bytes", n)) => n.parse().map(Throttler::BytesPerSecond).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

async fn throttle(session: &Session, target: &str, throttler: &str) -> Outcome {
    let throttler = parse_throttler(throttler)?;
    let result = session
        .clients()
        .set_throttled_detailed(target, throttler)
        .await
        .map_err(|e| Failure::from_error(&e, filter_of(target)))?;
    println!("throttler set for {} session{}", result.total, plural(result.total));
    routing(&result)
}

async fn watch(session: &Session, filter: Option<String>, keys: &[String]) -> Outcome {
    let text = filter.clone();
    let mut params = SessionEventParams::new().properties(keys.to_vec());
    params.filter = filter;
    let mut events = session
        .clients()
        .session_events(params)
        .await
        .map_err(|e| Failure::from_error(&e, text.as_deref()))?;
    eprintln!("watching sessions; Ctrl-C to stop");
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => println!("{}", output::session_event_line(&event)),
                Some(Err(e)) => return Err(Failure::from_error(&e, None)),
                None => return Err(Failure::failed(format!("the session ended: {}", session.closed().await))),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

async fn queue_events(session: &Session) -> Outcome {
    let mut events = session.clients().queue_events().await.map_err(|e| Failure::from_error(&e, None))?;
    eprintln!("watching queue events; Ctrl-C to stop");
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => println!("{}", output::queue_event_line(&event)),
                Some(Err(e)) => return Err(Failure::from_error(&e, None)),
                None => return Err(Failure::failed(format!("the session ended: {}", session.closed().await))),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// `usher connect`: opens `count` sessions and holds them until each is
/// closed or Ctrl-C, so a shell user can see client control act on them.
async fn hold(cli: &Cli, count: u32, properties: &[String]) -> Outcome {
    let mut options = connect_options(cli)?;
    for (key, value) in parse_assignments(properties)? {
        options = options.property(key, value.unwrap_or_default());
    }
    let mut sessions = Vec::new();
    for _ in 0..count {
        let session = open(cli, options.clone()).await?;
        println!("connected {}", session.id());
        sessions.push(session);
    }
    let _ = std::io::stdout().flush();
    let mut closes: futures_util::stream::FuturesUnordered<_> = sessions
        .iter()
        .map(|s| {
            let id = s.id();
            let closed = s.closed();
            async move { (id, closed.await) }
        })
        .collect();
    loop {
        tokio::select! {
            next = closes.next() => match next {
                Some((id, reason)) => {
                    println!("closed {id} {reason}");
                    let _ = std::io::stdout().flush();
                }
                None => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    for session in &sessions {
        let _ = session.close().await;
    }
    Ok(())
}

fn hash_password() -> Outcome {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ").map_err(|e| Failure::failed(e.to_string()))?;
        let again = rpassword::prompt_password("again: ").map_err(|e| Failure::failed(e.to_string()))?;
        if first != again {
            return Err(Failure::failed("the passwords differ"));
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::failed(format!("reading stdin: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err(Failure::usage("the password is empty"));
    }
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| Failure::failed(format!("salt: {e}")))?;
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Failure::failed(format!("hashing failed: {e}")))?;
    println!("{hash}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_and_throttlers_parse() {
        let map = parse_assignments(&["a=1".into(), "b=".into(), "c=x=y".into()]).expect("valid");
        assert_eq!(map.get("a"), Some(&Some("1".to_owned())));
        assert_eq!(map.get("b"), Some(&None));
        assert_eq!(map.get("c"), Some(&Some("x=y".to_owned())));
        assert_eq!(parse_assignments(&["nope".into()]).map_err(|f| f.code).err(), Some(USAGE));
        assert_eq!(parse_throttler("off").ok(), Some(Throttler::Unthrottled));
        assert_eq!(parse_throttler("msgs=5").ok(), Some(Throttler::MessagesPerSecond(5)));
        assert_eq!(parse_throttler("bytes=9").ok(), Some(Throttler::BytesPerSecond(9)));
        assert!(parse_throttler("msgs=x").is_err());
    }
}
