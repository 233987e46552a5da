//! Graceful shutdown, as in mini-redis: a broadcast tells every task to stop,
//! and each task holds a clone of an mpsc sender; when the last one is
//! dropped, `recv` on the receiver returns `None` and shutdown is complete.

use tokio::sync::broadcast;

/// Listens for the shutdown signal.
#[derive(Debug)]
pub(crate) struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub(crate) fn new(notify: broadcast::Receiver<()>) -> Self {
        Self { is_shutdown: false, notify }
    }

    /// True once the signal was received.
    #[allow(dead_code)]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Waits for the signal (returns at once if it was already received).
    pub(crate) async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // Lagged or closed both mean "shut down": only one value is ever sent.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}
