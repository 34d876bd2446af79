//! The access log: one JSON line per request, written by a thread of its
//! own so a slow disk never stalls a request; lines are dropped (and
//! counted) when the writer falls behind.

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Lines buffered before new ones are dropped.
const BACKLOG: usize = 16_384;

#[derive(Debug)]
pub(crate) struct AccessLog {
    tx: SyncSender<String>,
}

impl AccessLog {
    /// Starts a writer thread appending lines to `out`.
    pub(crate) fn start(out: Box<dyn Write + Send>) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(BACKLOG);
        std::thread::Builder::new()
            .name("cirrus-access-log".into())
            .spawn(move || write_lines(&rx, out))?;
        Ok(Self { tx })
    }

    /// Queues a line; false when it had to be dropped.
    pub(crate) fn log(&self, line: String) -> bool {
        match self.tx.try_send(line) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

fn write_lines(rx: &Receiver<String>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::new(out);
    while let Ok(line) = rx.recv() {
        let _ = writeln!(out, "{line}");
        // Write what is queued, then flush once the queue is empty.
        while let Ok(line) = rx.try_recv() {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
}
