//! The soak's origin: HTTP/1.1 keep-alive on loopback, with the answers a
//! CDN sees in production. `/c/N`: 2 KiB, cacheable for 5 s with an ETag
//! (revalidated with `If-None-Match`, answered 304); `/ns/N`: 1 KiB,
//! `no-store`; `/big/N`: 1 MiB, cacheable (clients ask ranges of it);
//! `/slow/N`: 300 ms late, cacheable for 2 s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests the origin answered, and how many of them with 304.
#[derive(Default)]
pub(crate) struct OriginCounts {
    pub(crate) requests: AtomicU64,
    pub(crate) not_modified: AtomicU64,
}

/// Starts the origin; returns its address and counters.
pub(crate) async fn start() -> (SocketAddr, Arc<OriginCounts>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(OriginCounts::default());
    let big: Arc<Vec<u8>> = Arc::new((0..1 << 20).map(|i| b'a' + (i % 26) as u8).collect());
    let shared = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            tokio::spawn(serve(stream, shared.clone(), big.clone()));
        }
    });
    (addr, counts)
}

async fn serve(mut s: tokio::net::TcpStream, counts: Arc<OriginCounts>, big: Arc<Vec<u8>>) {
    let mut seen = Vec::with_capacity(4096);
    let mut buf = [0u8; 4096];
    loop {
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&seen[..end]).into_owned();
        seen.drain(..end + 4);
        counts.requests.fetch_add(1, Ordering::Relaxed);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let inm = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("if-none-match: ")
                    .or_else(|| l.strip_prefix("If-None-Match: "))
            })
            .map(str::to_string);
        let n = path.rsplit('/').next().unwrap_or("0").to_string();
        let (status, headers, body): (&str, String, &[u8]) = if path.starts_with("/c/") {
            let etag = format!("\"v{n}\"");
            if inm.as_deref() == Some(etag.as_str()) {
                counts.not_modified.fetch_add(1, Ordering::Relaxed);
                (
                    "304 Not Modified",
                    format!("Cache-Control: max-age=5\r\nETag: {etag}\r\n"),
                    b"",
                )
            } else {
                (
                    "200 OK",
                    format!("Cache-Control: max-age=5\r\nETag: {etag}\r\n"),
                    &big[..2048],
                )
            }
        } else if path.starts_with("/ns/") {
            ("200 OK", "Cache-Control: no-store\r\n".into(), &big[..1024])
        } else if path.starts_with("/big/") {
            ("200 OK", "Cache-Control: max-age=300\r\n".into(), &big[..])
        } else if path.starts_with("/slow/") {
            tokio::time::sleep(Duration::from_millis(300)).await;
            ("200 OK", "Cache-Control: max-age=2\r\n".into(), &big[..512])
        } else {
            ("404 Not Found", "Cache-Control: no-store\r\n".into(), b"")
        };
        let head = format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            if status.starts_with("304") { 0 } else { body.len() }
        );
        if s.write_all(head.as_bytes()).await.is_err() || s.write_all(body).await.is_err() {
            return;
        }
    }
}
