//! The process's Tokio runtime.

/// How long an idle blocking thread (the embedded store's writes, the disk
/// tier, password hashing) waits for more work before it exits. Tokio's
/// default of 10 s makes a steady trickle of store writes start and stop
/// threads all day, and each new thread leaves its stack and allocator
/// caches behind (docs/operations.md#soak); an hour keeps the set stable.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The runtime for `threads` worker threads: single-threaded for one.
pub(super) fn runtime(threads: Option<std::num::NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = threads
        .map(std::num::NonZeroUsize::get)
        .or_else(|| std::env::var("TOKIO_WORKER_THREADS").ok()?.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder.enable_all().thread_keep_alive(BLOCKING_KEEP_ALIVE).build()
}
