//! A TCP relay to cut one client off from a server (a Redis, say) and
//! restore it, while other clients keep talking to the server directly.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Relays connections from [`Relay::addr`] to a target until cut.
#[derive(Debug)]
pub struct Relay {
    /// Where clients connect.
    pub addr: SocketAddr,
    cut: Arc<watch::Sender<bool>>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Relays `127.0.0.1:<free port>` to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(watch::Sender::new(false));
        let state = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *state.borrow() {
                    drop(client);
                    continue;
                }
                let mut cut = state.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Self { addr, cut, task }
    }

    /// `redis://` URL of the relay.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drops every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Relays again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
