//! How accepted connections are handed to hyper.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Accepts from `L` and hands out connections that report no vectored
/// writes, so hyper and h2 copy small frames into their write buffer
/// instead of queueing them as separate buffers.
///
/// Why: h2 queues a DATA payload of 256 bytes or more as a second iovec
/// when the socket supports vectored writes, and accepts no further frame
/// until it is written. A unary gRPC answer (HEADERS, DATA, trailers) then
/// costs two `writev`s and wakes the client twice. Without vectored writes
/// h2 copies payloads under 1 KiB instead, and the whole answer leaves in
/// one write. HTTP/1.1 responses still leave in one write (hyper flattens
/// head and body).
pub struct FlatWrites<L>(pub L);

impl<L> Listener for FlatWrites<L>
where
    L: Listener,
    L::Io: Unpin,
{
    type Io = FlatWriter<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (FlatWriter(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection whose writes are never vectored; see [`FlatWrites`].
pub struct FlatWriter<T>(T);

impl<T: AsyncRead + Unpin> AsyncRead for FlatWriter<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

// `poll_write_vectored` and `is_write_vectored` keep their defaults: one
// buffer per write, and `false`.
impl<T: AsyncWrite + Unpin> AsyncWrite for FlatWriter<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
