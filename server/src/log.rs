//! The server's log lines: the format (the same lines as
//! `tracing_subscriber`'s default full format, written without its
//! general-purpose machinery) and a writer that gathers the lines of one
//! connection poll into one `write(2)`.
//!
//! Why: SPEC §8 requires an audit line for every control operation, so at
//! SPEC §9 P6 rates (100,000 ops/s) the log is on the hot path. Formatting
//! through `tracing_subscriber`'s default format cost ~1 µs per line
//! (colour styling, `Debug` escaping char by char, per-component `write!`),
//! and one `write(2)` per line was the server's most frequent syscall.
//!
//! Bounds: a batch holds at most [`BATCH_BYTES`] (then it is written out,
//! so each `write(2)` is at most `PIPE_BUF` and lines of different threads
//! never interleave within a line on a pipe), and only until the end of the
//! poll that produced it (`batch`'s guard). Lines logged outside a batch
//! are written at once, as before.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::{self, Write};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Most bytes a batch holds before it is written (Linux `PIPE_BUF`).
pub const BATCH_BYTES: usize = 4096;

#[derive(Default)]
struct Batch {
    /// Open [`batch`] guards on this thread.
    depth: u32,
    buf: Vec<u8>,
}

thread_local! {
    static BATCH: RefCell<Batch> = RefCell::new(Batch::default());
}

fn write_out(bytes: &[u8]) {
    // A log line that cannot be written is dropped (nowhere to report it).
    let _ = io::stderr().lock().write_all(bytes);
}

/// Gathers this thread's log lines until the guard drops, then writes them
/// in one `write(2)` (or more, each at most [`BATCH_BYTES`]).
pub(crate) fn batch() -> BatchGuard {
    BATCH.with(|b| b.borrow_mut().depth += 1);
    BatchGuard(())
}

/// See [`batch`].
pub(crate) struct BatchGuard(());

impl Drop for BatchGuard {
    fn drop(&mut self) {
        BATCH.with(|b| b.borrow_mut().close(&mut write_out));
    }
}

impl Batch {
    /// Takes one line: into the batch while a guard is open (writing out
    /// what was gathered first when the line would pass [`BATCH_BYTES`]),
    /// else straight to `out`.
    fn line(&mut self, bytes: &[u8], out: &mut impl FnMut(&[u8])) {
        if self.depth == 0 {
            return out(bytes);
        }
        if self.buf.len() + bytes.len() > BATCH_BYTES && !self.buf.is_empty() {
            out(&self.buf);
            self.buf.clear();
        }
        if bytes.len() > BATCH_BYTES {
            out(bytes);
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Closes one guard; the outermost writes what was gathered.
    fn close(&mut self, out: &mut impl FnMut(&[u8])) {
        self.depth = self.depth.saturating_sub(1);
        if self.depth == 0 && !self.buf.is_empty() {
            out(&self.buf);
            self.buf.clear();
            // Keep a small buffer for the next poll, not a burst's.
            self.buf.shrink_to(BATCH_BYTES);
        }
    }
}

/// The log's writer: standard error, through this thread's batch when one
/// is open.
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrBatched;

/// One line's writer (see [`StderrBatched`]).
#[derive(Debug)]
pub struct LineWriter(());

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        BATCH.with(|b| match b.try_borrow_mut() {
            Ok(mut b) => b.line(bytes, &mut write_out),
            Err(_) => write_out(bytes),
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for StderrBatched {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter(())
    }
}

/// The line format: `2026-12-03T13:20:41.123456Z  INFO span{f=v}: target: field=value …`,
/// as `tracing_subscriber`'s default full format without colours.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        timestamp(&mut w)?;
        // Records of the `log` crate (tungstenite's) carry their real
        // target in `log.*` fields, which are not printed.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        w.write_str(match *meta.level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                w.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(w, "{{{fields}}}")?;
                }
                w.write_char(':')?;
            }
            w.write_char(' ')?;
        }
        w.write_str(meta.target())?;
        w.write_str(": ")?;
        let mut visitor = Fields { w: w.by_ref(), first: true, result: Ok(()) };
        event.record(&mut visitor);
        visitor.result?;
        w.write_char('\n')
    }
}

/// The fields' format: `name=value`, space-separated, strings quoted and
/// escaped as `Debug` does, the `message` field bare and first.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFields;

impl<'w> FormatFields<'w> for LineFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Fields { w: writer, first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Fields<'w> {
    w: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        self.result = (|| {
            if !self.first {
                self.w.write_char(' ')?;
            }
            self.first = false;
            if name != "message" {
                // `r#type` and friends are logged without the raw prefix.
                self.w.write_str(name.strip_prefix("r#").unwrap_or(name))?;
                self.w.write_char('=')?;
            }
            value(&mut self.w)
        })();
    }
}

/// True when `Debug` would print `s` quoted but otherwise unchanged.
fn plain(s: &str) -> bool {
    s.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            return self.field(field, |w| w.write_str(value));
        }
        self.field(field, |w| {
            if plain(value) {
                w.write_char('"')?;
                w.write_str(value)?;
                w.write_char('"')
            } else {
                write!(w, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| write!(w, "{value:?}"));
    }
}

thread_local! {
    /// The last second formatted, and its text up to the seconds.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ ` (UTC), the date and time formatted once
/// per second per thread.
fn timestamp(w: &mut Writer<'_>) -> fmt::Result {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    SECOND.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != secs {
            let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
            let t = secs % 86_400;
            cell.1.clear();
            write!(cell.1, "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)?;
            cell.0 = secs;
        }
        w.write_str(&cell.1)
    })?;
    write!(w, ".{:06}Z", now.subsec_micros())
}

/// The civil date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn events() {
        let span = tracing::info_span!("session", peer = %"127.0.0.1:5", id = tracing::field::Empty);
        let _in = span.enter();
        span.record("id", tracing::field::display("00ff-0001"));
        tracing::info!(target: "usher::audit", caller = %"c1", principal = "p\"q", op = "count", count = 3u64, denied = 0u64, ok = true, "took {}", 1);
        tracing::warn!(x = -2i64, r#type = "t", text = "line\nbreak", "plain");
        drop(_in);
        tracing::error!(target: "other", "outside");
    }

    /// Everything after the timestamp, line by line.
    fn lines(buf: &Capture) -> Vec<String> {
        let text =
            String::from_utf8(buf.0.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default();
        text.lines().map(|l| l.get(27..).unwrap_or("").to_owned()).collect()
    }

    /// A subscriber with this module's format, writing into `buf`.
    fn line_format(buf: &Capture) -> impl Subscriber + Send + Sync + use<> {
        let buf = buf.clone();
        tracing_subscriber::fmt()
            .event_format(LineFormat)
            .fmt_fields(LineFields)
            .with_writer(move || buf.clone())
            .finish()
    }

    #[test]
    fn lines_match_the_default_format() {
        let (default, ours) = (Capture::default(), Capture::default());
        let d = default.clone();
        let sub = tracing_subscriber::fmt().with_ansi(false).with_writer(move || d.clone()).finish();
        tracing::subscriber::with_default(sub, events);
        tracing::subscriber::with_default(line_format(&ours), events);
        let (default, ours) = (lines(&default), lines(&ours));
        assert_eq!(default.len(), 3, "{default:?}");
        assert_eq!(ours, default);
    }

    #[test]
    fn timestamps_are_utc_rfc3339_with_microseconds() {
        let buf = Capture::default();
        tracing::subscriber::with_default(line_format(&buf), || tracing::info!("x"));
        let text =
            String::from_utf8(buf.0.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default();
        let stamp = text.get(..27).unwrap_or("");
        let today = civil_from_days(
            (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()
                / 86_400) as i64,
        );
        assert!(stamp.starts_with(&format!("{:04}-{:02}-{:02}T", today.0, today.1, today.2)), "{text}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.', "{text}");
    }

    #[test]
    fn a_batch_writes_whole_lines_at_most_pipe_buf_at_a_time() {
        let mut writes: Vec<Vec<u8>> = Vec::new();
        let mut out = |bytes: &[u8]| writes.push(bytes.to_vec());
        let mut b = Batch::default();
        b.line(b"outside\n", &mut out);
        b.depth += 1;
        b.depth += 1;
        let line = [b'a'; 1000];
        for _ in 0..5 {
            b.line(&line, &mut out);
        }
        b.line(&[b'b'; BATCH_BYTES + 1], &mut out);
        b.close(&mut out);
        b.line(b"inner guard closed\n", &mut out);
        b.close(&mut out);
        b.line(b"after\n", &mut out);
        let lens: Vec<usize> = writes.iter().map(Vec::len).collect();
        // The 5th line would pass 4096: the first four leave together; the
        // oversized one leaves alone after what was gathered; the rest when
        // the outer guard closes.
        assert_eq!(lens, [8, 4000, 1000, BATCH_BYTES + 1, 19, 6]);
        assert_eq!(writes[0], b"outside\n");
        assert_eq!(writes[4], b"inner guard closed\n");
        assert!(b.buf.is_empty() && b.depth == 0);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_790), (2026, 12, 3));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn plain_strings_need_no_escaping() {
        for s in ["getSessionProperties", "a b-c_d.e/f:9", "it's", ""] {
            assert!(plain(s), "{s:?}");
            assert_eq!(format!("{s:?}"), format!("\"{s}\""), "{s:?}");
        }
        for s in ["a\"b", "a\\b", "a\nb", "\u{7f}", "\u{1b}[0m"] {
            assert!(!plain(s), "{s:?}");
            assert_ne!(format!("{s:?}"), format!("\"{s}\""), "{s:?} needs escaping");
        }
        // Not plain, so written through `Debug` (which leaves it unescaped).
        assert!(!plain("é"));
    }
}
