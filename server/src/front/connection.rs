//! How client connections are accepted and handed to hyper.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::serve::Listener;
use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::providers::http::Ping;

/// Accepts client connections: at most a fixed number open at once, each
/// set up by [`configure`] and wrapped as a [`Connection`].
///
/// At the limit the acceptor waits for a connection to close before it
/// accepts another; new clients wait in the kernel's backlog meanwhile.
/// This keeps file descriptors for provider connections, which every
/// request needs too.
pub struct Acceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    limit: usize,
    ping: Option<Ping>,
    last_full: Option<Instant>,
}

/// How often reaching the connection limit is logged, at most.
const FULL_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Acceptor {
    pub fn new(listener: TcpListener, limit: usize, ping: Option<Ping>) -> Self {
        Self {
            listener,
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            ping,
            last_full: None,
        }
    }

    /// A free slot under the limit, waiting for one if there is none.
    async fn slot(&mut self) -> OwnedSemaphorePermit {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return slot;
        }
        if self
            .last_full
            .is_none_or(|at| at.elapsed() >= FULL_LOG_INTERVAL)
        {
            self.last_full = Some(Instant::now());
            tracing::warn!(
                limit = self.limit,
                "connection limit reached: new clients wait until a connection closes (server.max_connections)"
            );
        }
        match self.slots.clone().acquire_owned().await {
            Ok(slot) => slot,
            Err(_) => unreachable!("the acceptor never closes its semaphore"),
        }
    }
}

impl Listener for Acceptor {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        let slot = self.slot().await;
        // axum's accept retries refused or reset connections at once, and
        // waits a second after other errors (out of file descriptors).
        let (tcp, addr) = Listener::accept(&mut self.listener).await;
        configure(&tcp, self.ping);
        (Connection { tcp, _slot: slot }, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Sets up an accepted socket. Best effort: a socket that refuses an
/// option still serves.
///
/// - No Nagle delay: small writes (SSE events, unary replies) leave at once.
/// - With `ping`, a peer that vanished (host gone, NAT forgot us) is found
///   dead instead of holding its connection, and the provider request
///   behind it, for hours: keepalive probes after `interval` of silence,
///   and `TCP_USER_TIMEOUT` for data that stays unacknowledged (a stream
///   written to a vanished client), both giving up after about
///   `interval + timeout`.
pub fn configure(tcp: &TcpStream, ping: Option<Ping>) {
    let _ = tcp.set_nodelay(true);
    let Some(ping) = ping else { return };
    let socket = SockRef::from(tcp);
    let keepalive = TcpKeepalive::new()
        .with_time(ping.interval)
        .with_interval(ping.tcp_probe_interval())
        .with_retries(Ping::TCP_PROBES);
    let _ = socket.set_tcp_keepalive(&keepalive);
    #[cfg(target_os = "linux")]
    let _ = socket.set_tcp_user_timeout(Some(ping.interval + ping.timeout));
}

/// The connection limit: `configured`, or half the files the process may
/// open, leaving the other half for provider connections and files. The
/// process's soft open-file limit is raised to its hard one first, as Go
/// does at start-up: the soft default (often 1024) is far below what a
/// gateway needs.
pub fn limit(configured: Option<usize>) -> usize {
    let files = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .unwrap_or(1024);
    let half = usize::try_from(files / 2)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
    let configured = configured.map(|limit| limit.min(Semaphore::MAX_PERMITS));
    match configured {
        Some(limit) if limit > half => {
            tracing::warn!(
                limit,
                open_files = files,
                "server.max_connections leaves under half the files the process may open for provider connections"
            );
            limit
        }
        Some(limit) => limit,
        None => half,
    }
}

/// An accepted client connection. It holds its slot under the connection
/// limit until it is dropped, and reports no vectored writes, so hyper and
/// h2 copy small frames into their write buffer instead of queueing them
/// as separate buffers.
///
/// Why no vectored writes: h2 queues a DATA payload of 256 bytes or more
/// as a second iovec when the socket supports vectored writes, and accepts
/// no further frame until it is written. A unary gRPC answer (HEADERS,
/// DATA, trailers) then costs two `writev`s and wakes the client twice.
/// Without vectored writes h2 copies payloads under 1 KiB instead, and the
/// whole answer leaves in one write. HTTP/1.1 responses still leave in one
/// write (hyper flattens head and body).
pub struct Connection {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

// `poll_write_vectored` and `is_write_vectored` keep their defaults: one
// buffer per write, and `false`.
impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An accepted socket gets the keepalive and user timeout `ping` asks
    /// for; without `ping`, the kernel's defaults stay.
    #[tokio::test]
    async fn accepted_sockets_detect_dead_peers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = |ping| {
            let listener = &listener;
            async move {
                let _client = TcpStream::connect(addr).await.expect("connect");
                let (tcp, _) = listener.accept().await.expect("accept");
                configure(&tcp, ping);
                tcp
            }
        };

        let ping = Ping {
            interval: Duration::from_secs(20),
            timeout: Duration::from_secs(9),
        };
        let tcp = accepted(Some(ping)).await;
        let socket = SockRef::from(&tcp);
        assert!(tcp.nodelay().expect("nodelay"));
        assert!(socket.keepalive().expect("keepalive"));
        assert_eq!(socket.tcp_keepalive_time().ok(), Some(ping.interval));
        assert_eq!(
            socket.tcp_keepalive_interval().ok(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(socket.tcp_keepalive_retries().ok(), Some(3));
        #[cfg(target_os = "linux")]
        assert_eq!(
            socket.tcp_user_timeout().ok().flatten(),
            Some(Duration::from_secs(29))
        );

        let tcp = accepted(None).await;
        let socket = SockRef::from(&tcp);
        assert!(!socket.keepalive().expect("keepalive"));
        #[cfg(target_os = "linux")]
        assert_eq!(socket.tcp_user_timeout().ok().flatten(), None);
    }
}
