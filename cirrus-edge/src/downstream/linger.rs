//! Lingering close: a client connection that ends is read, and what comes
//! discarded, for a moment before its socket is closed. Closing a socket
//! with unread bytes (an HTTP/2 client's last WINDOW_UPDATE or SETTINGS
//! ack, say) makes the kernel answer with a reset, which can destroy the
//! end of the last response before the client has read it (nginx's
//! `lingering_close` does the same).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// How long a closed connection is read from, at most.
const LINGER: Duration = Duration::from_secs(2);
/// How much is read from it, at most.
const LINGER_BYTES: usize = 64 * 1024;

/// `S`, shut down and lingered over when dropped.
pub(crate) struct Linger<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(Option<S>);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Linger<S> {
    pub(crate) fn new(stream: S) -> Self {
        Self(Some(stream))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for Linger<S> {
    fn drop(&mut self) {
        let (Some(mut stream), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        runtime.spawn(async move {
            let mut buf = [0u8; 4096];
            let mut read = 0;
            let _ = tokio::time::timeout(LINGER, async {
                // Our side is done (for TLS: close_notify), then theirs is read out.
                if stream.shutdown().await.is_err() {
                    return;
                }
                while read < LINGER_BYTES {
                    match stream.read(&mut buf).await {
                        Ok(n) if n > 0 => read += n,
                        _ => return,
                    }
                }
            })
            .await;
        });
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for Linger<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().0 {
            Some(s) => Pin::new(s).poll_read(cx, buf),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for Linger<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().0 {
            Some(s) => Pin::new(s).poll_write(cx, buf),
            None => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().0 {
            Some(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().0 {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().0 {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}
