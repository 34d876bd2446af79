//! The access log: one JSON line per request, handed to a thread of its
//! own (a writer or an embedder's callback) so a slow disk never stalls a
//! request; lines are dropped (and counted) when the thread falls behind.

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Lines buffered before new ones are dropped.
const BACKLOG: usize = 16_384;

/// Where access log lines go.
pub(crate) enum Sink {
    /// Appended to a writer, one line each, flushed when the queue is empty.
    Writer(Box<dyn Write + Send>),
    /// Given to a callback, one call per line (without the newline).
    Callback(Box<dyn FnMut(&str) + Send>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sink::Writer(_) => "Sink::Writer",
            Sink::Callback(_) => "Sink::Callback",
        })
    }
}

#[derive(Debug)]
pub(crate) struct AccessLog {
    tx: SyncSender<String>,
}

impl AccessLog {
    /// Starts the thread that hands lines to `sink`.
    pub(crate) fn start(sink: Sink) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(BACKLOG);
        std::thread::Builder::new()
            .name("cirrus-access-log".into())
            .spawn(move || deliver(&rx, sink))?;
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

fn deliver(rx: &Receiver<String>, sink: Sink) {
    match sink {
        Sink::Writer(out) => {
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
        Sink::Callback(mut each) => {
            while let Ok(line) = rx.recv() {
                each(&line);
            }
        }
    }
}
