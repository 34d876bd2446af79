//! A test origin that can be up, hung (accepts, reads, never answers) or
//! down (its port refuses connections; open connections are closed), on
//! one fixed address. `/c/…` is cacheable for 1 s; anything else is
//! `no-store`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the origin behaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Mode {
    Up = 0,
    Hung = 1,
    Down = 2,
}

pub struct ChaosOrigin {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
}

impl ChaosOrigin {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(Mode::Up as u8));
        tokio::spawn(listen(listener, addr, mode.clone()));
        Self { addr, mode }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }
}

fn mode_of(cell: &AtomicU8) -> Mode {
    match cell.load(Ordering::Relaxed) {
        0 => Mode::Up,
        1 => Mode::Hung,
        _ => Mode::Down,
    }
}

/// Accepts while not down; rebinds the same port when it comes back.
async fn listen(first: tokio::net::TcpListener, addr: SocketAddr, mode: Arc<AtomicU8>) {
    let mut listener = Some(first);
    loop {
        match (&listener, mode_of(&mode)) {
            (Some(_), Mode::Down) => listener = None,
            (None, Mode::Down) => tokio::time::sleep(Duration::from_millis(10)).await,
            (None, _) => {
                listener = tokio::net::TcpListener::bind(addr).await.ok();
                if listener.is_none() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            (Some(l), _) => {
                if let Ok(Ok((stream, _))) = tokio::time::timeout(Duration::from_millis(10), l.accept()).await {
                    tokio::spawn(serve(stream, mode.clone()));
                }
            }
        }
    }
}

async fn serve(mut s: tokio::net::TcpStream, mode: Arc<AtomicU8>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
            match tokio::time::timeout(Duration::from_millis(20), s.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
                // Idle: a connection open when the origin goes down closes.
                Err(_) if mode_of(&mode) == Mode::Down => return,
                Err(_) => {}
            }
            continue;
        };
        let head = String::from_utf8_lossy(&seen[..end]).into_owned();
        seen.drain(..end + 4);
        match mode_of(&mode) {
            Mode::Down => return,
            Mode::Hung => return std::future::pending().await,
            Mode::Up => {}
        }
        let path = head.split(' ').nth(1).unwrap_or("/");
        let cc = if path.starts_with("/c/") {
            "max-age=1"
        } else {
            "no-store"
        };
        let answer = format!("HTTP/1.1 200 OK\r\nCache-Control: {cc}\r\nContent-Length: 2\r\n\r\nok");
        if s.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}
