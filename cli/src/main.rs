//! `usher`: the admin command line (SPEC §4, client control from a shell).
//!
//! Connects with `--url` / `USHER_URL` and `--principal` / `USHER_PRINCIPAL`;
//! the password comes from `USHER_PASSWORD` or a prompt, never a flag (flags
//! show up in `ps` and shell history). Exit codes: 0 success, 1 the
//! operation failed, 2 usage.

mod commands;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code: the operation failed.
const FAILED: u8 = 1;
/// Exit code: bad usage.
const USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(name = "usher", version, about = "Control the sessions of an Usher server")]
struct Cli {
    /// Server url.
    #[arg(long, env = "USHER_URL", default_value = "ws://127.0.0.1:8080", global = true)]
    url: String,
    /// Principal to authenticate as (anonymous when absent). The password is
    /// read from USHER_PASSWORD or prompted for.
    #[arg(long, env = "USHER_PRINCIPAL", global = true)]
    principal: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List sessions (a readable table, or JSON).
    Sessions {
        /// Which sessions (default: all).
        filter: Option<String>,
        /// Properties to show, comma separated (`*F` all fixed, `*U` all user).
        #[arg(long, value_delimiter = ',', default_value = "$Principal,$ClientType,$Roles")]
        properties: Vec<String>,
        /// Show at most this many sessions.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// How many sessions match a filter (total, then per server).
    Count {
        /// The filter.
        filter: String,
    },
    /// Close sessions by id or filter. A filter matching more than 10
    /// sessions asks for confirmation unless --yes.
    Close {
        /// A session id or a filter.
        target: String,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Change the roles of sessions by id or filter.
    Roles {
        /// A session id or a filter.
        target: String,
        /// A role to add (repeatable).
        #[arg(long = "add", value_name = "ROLE")]
        add: Vec<String>,
        /// A role to remove (repeatable).
        #[arg(long = "remove", value_name = "ROLE")]
        remove: Vec<String>,
    },
    /// Read or set session properties.
    Props {
        #[command(subcommand)]
        action: PropsCommand,
    },
    /// Turn conflation on or off.
    Conflate {
        /// A session id or a filter.
        target: String,
        /// on or off.
        state: OnOff,
    },
    /// Set the throttler: off, msgs=N (messages per second), bytes=N (bytes per second).
    Throttle {
        /// A session id or a filter.
        target: String,
        /// off, msgs=N or bytes=N.
        throttler: String,
    },
    /// Print session events, one line each, until Ctrl-C.
    Watch {
        /// Which sessions (default: all).
        filter: Option<String>,
        /// Properties events carry, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "$Principal")]
        properties: Vec<String>,
    },
    /// Print queue events (threshold crossings, policy changes) until Ctrl-C.
    QueueEvents,
    /// Open sessions and hold them until they are closed (by a controller or
    /// the server) or Ctrl-C; prints each id, then each close with its reason.
    Connect {
        /// How many sessions to open.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// A user property K=V each session proposes (repeatable).
        #[arg(long = "property", value_name = "K=V")]
        properties: Vec<String>,
    },
    /// Print an argon2id PHC hash of a password read from stdin or a prompt,
    /// for the security store.
    HashPassword,
}

#[derive(Debug, Subcommand)]
enum PropsCommand {
    /// Print one session's properties.
    Get {
        /// The session id.
        id: String,
        /// Keys (names, `*F`, `*U`; commas allowed). Default: `*F,*U`.
        keys: Vec<String>,
    },
    /// Set properties on sessions by id or filter: K=V sets, K= removes.
    Set {
        /// A session id or a filter.
        target: String,
        /// K=V pairs.
        #[arg(required = true)]
        assignments: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OnOff {
    On,
    Off,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(FAILED);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprint!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
