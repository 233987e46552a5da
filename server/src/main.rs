//! `usher-server`: runs the session server.
//!
//! No arguments: the embedded default (SPEC §2.4). Generated passwords are
//! printed once to stdout, before the listening lines; logs go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use usher_server::Config;

/// mimalloc rather than glibc's malloc: measured per idle session (SPEC §9
/// P1) and in close bursts (P3); figures in docs/PERFORMANCE.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "usher-server", version, about = "The Usher session server")]
struct Args {
    /// A TOML configuration file (see usher.example.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Overrides the first listener's address (127.0.0.1:0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Joins the cluster over this NATS server, e.g. nats://127.0.0.1:4222
    /// (overrides `[cluster] url`; see docs/CLUSTER.md).
    #[arg(long, value_name = "NATS_URL")]
    cluster: Option<String>,
    /// `$ServerName` (overrides `[server] name`); every cluster member needs
    /// its own.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGHUP: re-read the security store; a bad one is refused and the old
/// one kept.
#[cfg(unix)]
fn reload(server: &usher_server::ServerHandle, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        tracing::warn!("SIGHUP: no security store file is configured; nothing to reload");
        return;
    };
    match usher_core::security::SecurityStore::load(path) {
        Ok(store) => server.reload_security(&store),
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "SIGHUP: security store refused; keeping the old one")
        }
    }
}

/// Turns transparent huge pages off (or back on) for this process
/// (`server.disable_thp`): later page faults take 4 KiB pages, even in
/// memory the allocator asked huge pages for. Off from the start, before
/// the configuration is read (hashing generated passwords touches tens of
/// MiB), and back on if the configuration says so.
fn set_thp_disabled(disabled: bool) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: no pointers; the arguments are plain integers.
        if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, libc::c_ulong::from(disabled), 0, 0, 0) } != 0 {
            let e = std::io::Error::last_os_error();
            tracing::warn!(error = %e, "could not change transparent huge pages");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = disabled;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    set_thp_disabled(true);
    use std::io::IsTerminal;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    if std::io::stderr().is_terminal() {
        // Colours for a person at a terminal.
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter()).init();
    } else {
        // Into a file or a pipe: the same lines without colours, formatted
        // and written cheaply (one audit line per control operation, SPEC
        // §8, is on the hot path of SPEC §9 P6; see usher_server::log).
        tracing_subscriber::fmt()
            .event_format(usher_server::log::LineFormat)
            .fmt_fields(usher_server::log::LineFields)
            .with_writer(usher_server::log::StderrBatched)
            .with_env_filter(filter())
            .init();
    }
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => {
            let (config, generated) = Config::embedded_default()?;
            for (principal, password) in &generated.generated {
                // stdout, never the log.
                println!("generated password for {principal}: {password}");
            }
            config
        }
    };
    if let Some(addr) = args.listen {
        if config.listeners.is_empty() {
            config.listeners = config.effective_listeners();
        }
        config.listeners[0].address = addr;
    }
    if let Some(url) = args.cluster {
        config.cluster.get_or_insert_with(Default::default).url = url;
    }
    if let Some(name) = args.name {
        config.server.name = name;
    } else if config.cluster.is_some()
        && config.server.name == usher_server::config::ServerSection::default().name
    {
        // Members need distinct names (results count per server name).
        config.server.name = format!("usher-{}", std::process::id());
    }
    if !config.server.disable_thp {
        set_thp_disabled(false);
    }
    let server_store_path = config.store_path.clone();
    let server = usher_server::start(config).await?;
    for url in server.urls() {
        println!("usher-server listening on {url}");
    }
    let store_path = server_store_path.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal as unix_signal};
        let mut hup = unix_signal(SignalKind::hangup())?;
        let stop = signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = hup.recv() => reload(&server, store_path.as_deref()),
            }
        }
    }
    #[cfg(not(unix))]
    signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
