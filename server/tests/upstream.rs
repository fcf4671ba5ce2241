//! The upstream transport, black-box: HTTPS to the provider with the
//! certificate checked against the machine's trust store and HTTP/2 agreed by
//! ALPN, HTTP/1.1 connections kept alive (and replaced once the provider
//! closes them), and proxies from the environment (a real tinyproxy: CONNECT tunnels
//! for HTTPS, forwarding for plain HTTP, both with Basic credentials, and
//! `NO_PROXY`).
//!
//! The provider is the replay server behind a TLS front that this file runs
//! with a test CA, handed to the gateway as `SSL_CERT_FILE` (which the
//! platform verifier reads on Linux).

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use support::{Gateway, Model, ReplayServer, Setup, TempDir, fixtures_dir, keepalive_timers};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

const CHAT_FIXTURE: &str = "system__gpt-4o-system-prompt";
const STREAM_FIXTURE: &str = "stream__gpt-4o-text-include-usage";
const HANDSHAKE_DELAY: Duration = Duration::from_millis(200);

/// A TLS listener in front of the replay server, serving a certificate for
/// `localhost` issued by a CA of its own and offering the ALPN protocols
/// given. It records the protocol each connection agreed on, and can make
/// the connections open so far fall silent. Each handshake starts
/// `HANDSHAKE_DELAY` late, as a distant provider's would, so requests sent
/// together surely find a connection still being opened.
struct TlsFront {
    port: u16,
    origin: String,
    ca_file: PathBuf,
    agreed: Arc<Mutex<Vec<String>>>,
    /// One per connection piped to the replay server.
    silencers: Arc<Mutex<Vec<Arc<Notify>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    async fn start(backend: SocketAddr, dir: &Path, alpn: &[&str]) -> TlsFront {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Switchboard test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let key = KeyPair::generate().expect("key");
        let certificate = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .signed_by(&key, &ca)
            .expect("certificate");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write CA");

        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certificate.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let agreed = Arc::new(Mutex::new(Vec::new()));
        let silencers = Arc::new(Mutex::new(Vec::new()));
        let (seen, piped) = (agreed.clone(), silencers.clone());
        // Each connection is decrypted and piped to the replay server, which
        // speaks HTTP/1.1 and h2c alike.
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                let silence = Arc::new(Notify::new());
                piped.lock().unwrap().push(silence.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(HANDSHAKE_DELAY).await;
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let protocol = tls.get_ref().1.alpn_protocol().unwrap_or_default();
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(protocol).into_owned());
                    if let Ok(mut plain) = TcpStream::connect(backend).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut tls, &mut plain) => {}
                            // Both sockets stay open and nothing more passes
                            // (until the test's runtime ends).
                            () = silence.notified() => std::future::pending().await,
                        }
                    }
                });
            }
        });
        TlsFront {
            port,
            origin: format!("https://localhost:{port}"),
            ca_file,
            agreed,
            silencers,
            task,
        }
    }

    /// Makes every connection open so far fall silent, as when the
    /// provider's host is gone or a NAT on the way has forgotten the
    /// connection: no byte passes in either direction, and no reset comes.
    fn silence(&self) {
        for silence in self.silencers.lock().unwrap().iter() {
            silence.notify_one();
        }
    }

    /// A gateway setup reaching the provider through this front, with its
    /// CA in the trust store.
    fn trusted(&self) -> Setup {
        Setup {
            origin: Some(self.origin.clone()),
            env: vec![("SSL_CERT_FILE".into(), self.ca_file.display().to_string())],
            ..Setup::default()
        }
    }

    fn protocols(&self) -> Vec<String> {
        self.agreed.lock().unwrap().clone()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A plain TCP front to the replay server that counts the connections it
/// accepts and can close them all, as a provider closes idle keep-alive
/// connections.
struct TcpFront {
    origin: String,
    /// One per connection accepted, closed or not.
    pipes: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpFront {
    async fn start(backend: SocketAddr) -> TcpFront {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let pipes = Arc::new(Mutex::new(Vec::new()));
        let open = pipes.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut backend) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut socket, &mut backend).await;
                    }
                });
                open.lock().unwrap().push(pipe.abort_handle());
            }
        });
        TcpFront {
            origin,
            pipes,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.pipes.lock().unwrap().len()
    }

    /// Waits (up to 5 s) until every connection has been closed, by one side
    /// or the other or by `close_all`.
    async fn wait_closed(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            let closed = self
                .pipes
                .lock()
                .unwrap()
                .iter()
                .all(tokio::task::AbortHandle::is_finished);
            if closed {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes every connection accepted so far (dropping the sockets).
    fn close_all(&self) {
        for pipe in self.pipes.lock().unwrap().iter() {
            pipe.abort();
        }
    }
}

impl Drop for TcpFront {
    fn drop(&mut self) {
        self.task.abort();
        self.close_all();
    }
}

/// A tinyproxy (Debian package `tinyproxy-bin`) on 127.0.0.1 asking for Basic
/// credentials, logging every request it serves.
struct Proxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Proxy {
    const USER: &str = "switchboard";
    const PASSWORD: &str = "proxy-secret";

    fn start(dir: &Path) -> Proxy {
        let port = support::free_port();
        let log = dir.join("tinyproxy.log");
        let config = dir.join("tinyproxy.conf");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 16\nLogLevel Info\n\
                 LogFile \"{}\"\nAllow 127.0.0.1\nBasicAuth {} {}\n",
                log.display(),
                Self::USER,
                Self::PASSWORD
            ),
        )
        .expect("write tinyproxy.conf");
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy (Debian package tinyproxy-bin; .ci/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tinyproxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Proxy { child, port, log }
    }

    fn url(&self) -> String {
        format!(
            "http://{}:{}@127.0.0.1:{}",
            Self::USER,
            Self::PASSWORD,
            self.port
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it mentions `expected`, or as it is after 5 s: tinyproxy
    /// may write a request's line after the answer has reached the client.
    async fn log_mentioning(&self, expected: &str) -> String {
        for _ in 0..100 {
            let log = self.log();
            if log.contains(expected) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.log()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn question(model: &str, stream: bool) -> serde_json::Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "What is the capital of Mexico?"}]
    })
}

async fn chat(gateway: &Gateway, model: &str, stream: bool) -> (u16, String) {
    let response = gateway.post_chat(&question(model, stream)).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// `n` non-streamed chats sent at once; their answers in order.
async fn chats_at_once(gateway: &Gateway, model: &str, n: usize) -> Vec<(u16, String)> {
    futures::future::join_all((0..n).map(|_| chat(gateway, model, false))).await
}

fn ok((status, body): (u16, String)) {
    assert_eq!(status, 200, "{body}");
}

/// A chat answer and a stream arrive over TLS to a provider whose
/// certificate the trust store vouches for, on HTTP/2 agreed by ALPN. The
/// first requests, arriving together, open one connection between them.
#[tokio::test]
async fn https_upstream_with_http2() {
    let dir = TempDir::new();
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let front = TlsFront::start(replay.addr(), &dir.path, &["h2", "http/1.1"]).await;
    let setup = front.trusted();
    let gateway = Gateway::start_with(
        replay,
        &[
            Model::openai("chat", CHAT_FIXTURE, "gpt-4o"),
            Model::openai("stream", STREAM_FIXTURE, "gpt-4o"),
        ],
        &setup,
    )
    .await;

    let answers = chats_at_once(&gateway, "chat", 3).await;
    let expected = support::fixture_json("openai", &format!("{CHAT_FIXTURE}.response.json"));
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}\n{}", gateway.log());
        let answer: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(answer["id"], expected["id"]);
        assert_eq!(
            answer["choices"][0]["message"]["content"],
            expected["choices"][0]["message"]["content"]
        );
    }

    let (status, body) = chat(&gateway, "stream", true).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert!(body.matches("data: ").count() > 3, "{body}");

    // All four requests shared one pooled HTTP/2 connection.
    assert_eq!(front.protocols(), ["h2"]);
    assert_eq!(gateway.replay.requests().len(), 4);
}

/// An HTTPS provider that speaks only HTTP/1.1: the first requests,
/// arriving together, all succeed on HTTP/1.1 connections (they wait for one
/// connection expecting HTTP/2, then take it or open their own), and every
/// connection opened, that one included, is kept: as many requests at once
/// again open no new one.
#[tokio::test]
async fn https_upstream_with_http1_only() {
    let dir = TempDir::new();
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let front = TlsFront::start(replay.addr(), &dir.path, &["http/1.1"]).await;
    let setup = front.trusted();
    let gateway = Gateway::start_with(
        replay,
        &[Model::openai("chat", CHAT_FIXTURE, "gpt-4o")],
        &setup,
    )
    .await;

    let answers = chats_at_once(&gateway, "chat", 3).await;
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}\n{}", gateway.log());
    }
    let opened = front.protocols();
    assert!(opened.iter().all(|p| p == "http/1.1"), "{opened:?}");
    // Three requests at once need three; the dialed one may be a fourth.
    assert!((3..=4).contains(&opened.len()), "{opened:?}");
    // A connection comes back once it has read the end of its answer,
    // which may follow a moment after the caller has it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for answer in chats_at_once(&gateway, "chat", opened.len()).await {
        ok(answer);
    }
    assert_eq!(front.protocols(), opened, "kept alive");
    assert_eq!(gateway.replay.requests().len(), 3 + opened.len());
}

/// A provider that allows two streams per HTTP/2 connection (Google's
/// frontends allow 100) while four answers stream at once: the two that
/// find the first connection full open a second one together, instead of
/// waiting, unsent, until one of the first two streams has ended (or each
/// opening a connection of its own). Once they have ended, the next
/// requests open no third connection.
#[tokio::test]
async fn http2_stream_limit_opens_another_connection() {
    const PAUSE_MS: u64 = 300;
    let dir = TempDir::new();
    let replay = ReplayServer::start_with_stream_limit(fixtures_dir(), 2)
        .await
        .expect("replay");
    let front = TlsFront::start(replay.addr(), &dir.path, &["h2", "http/1.1"]).await;
    let setup = front.trusted();
    let gateway = Gateway::start_with(
        replay,
        &[
            Model::openai("chat", CHAT_FIXTURE, "gpt-4o"),
            // Twelve events, a pause before each but the first.
            Model::openai("slow", STREAM_FIXTURE, "gpt-4o").paused(PAUSE_MS),
        ],
        &setup,
    )
    .await;
    // The first request opens the connection. The pool learns the
    // provider's limit when the next one is sent on it (before, it assumes
    // hyper's 100, which real providers allow or exceed).
    ok(chat(&gateway, "chat", false).await);
    ok(chat(&gateway, "chat", false).await);
    assert_eq!(front.protocols(), ["h2"]);

    let slow = question("slow", true);
    let started = Instant::now();
    // Each resolves with the first event (the gateway sends the status
    // line with it); a request queued behind a whole stream would take 3.3 s.
    let streams = futures::future::join_all((0..4).map(|_| gateway.post_chat(&slow))).await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(PAUSE_MS * 5),
        "the four streams started after {waited:?}"
    );
    assert_eq!(front.protocols(), ["h2", "h2"]);
    for stream in streams {
        assert_eq!(stream.status(), 200);
        let body = stream.text().await.expect("body");
        assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    }

    ok(chat(&gateway, "chat", false).await);
    ok(chat(&gateway, "chat", false).await);
    assert_eq!(front.protocols().len(), 2, "no third connection");
    assert_eq!(gateway.replay.requests().len(), 8);
}

/// A provider's connection that falls silent, no reset ever arriving (its
/// host gone, a NAT on the way that forgot it), is found dead: TCP
/// keepalive probes every connection after `upstream_ping_interval`
/// without traffic, and an HTTP/2 connection with a request waiting is sent
/// a PING. Unanswered for `upstream_ping_timeout`, the connection is closed:
/// the request on it fails then, not at its own timeout ten minutes on, and
/// the next request opens a new connection instead of joining it.
#[tokio::test]
async fn silent_connection_is_closed() {
    let dir = TempDir::new();
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let front = TlsFront::start(replay.addr(), &dir.path, &["h2", "http/1.1"]).await;
    let mut setup = front.trusted();
    setup.server = vec![
        ("upstream_ping_interval", "1".into()),
        ("upstream_ping_timeout", "1".into()),
    ];
    // Without the probe the request would fail at this timeout.
    let gateway = Gateway::start_with(
        replay,
        &[Model::openai("chat", CHAT_FIXTURE, "gpt-4o").timeout(8)],
        &setup,
    )
    .await;
    ok(chat(&gateway, "chat", false).await);
    // Timer 2 is keepalive's (1, retransmission's, may show while a last
    // frame is unacknowledged); it fires within the interval (1 s is 100
    // ticks of USER_HZ) instead of Linux's default two hours.
    let timers = keepalive_timers(None, front.port, 20).await;
    let [(timer, ticks)] = timers[..] else {
        panic!("one connection to the provider expected: {timers:?}");
    };
    assert_eq!(timer, 2, "keepalive timer armed");
    assert!(ticks <= 100, "keepalive in {ticks} ticks");

    front.silence();
    let started = Instant::now();
    let (status, body) = chat(&gateway, "chat", false).await;
    let waited = started.elapsed();
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("keep-alive timed out"), "{body}");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(5)).contains(&waited),
        "failed after {waited:?}"
    );

    ok(chat(&gateway, "chat", false).await);
    assert_eq!(front.protocols(), ["h2", "h2"]);
    assert_eq!(gateway.replay.requests().len(), 2);
}

/// HTTP/1.1 connections to a provider are kept alive: one connection
/// carries requests one after another, streams included. One the provider
/// has closed meanwhile is replaced rather than failed on, and one whose
/// answer was abandoned half-read is never used again.
#[tokio::test]
async fn kept_alive_connections() {
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let front = TcpFront::start(replay.addr()).await;
    let setup = Setup {
        origin: Some(front.origin.clone()),
        ..Setup::default()
    };
    let gateway = Gateway::start_with(
        replay,
        &[
            Model::openai("chat", CHAT_FIXTURE, "gpt-4o"),
            Model::openai("stream", STREAM_FIXTURE, "gpt-4o"),
            Model::openai("slow", STREAM_FIXTURE, "gpt-4o").paused(300),
        ],
        &setup,
    )
    .await;

    for _ in 0..3 {
        ok(chat(&gateway, "chat", false).await);
    }
    let (status, body) = chat(&gateway, "stream", true).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    // The gateway stops reading at `[DONE]`; the connection comes back once
    // it has read the end of the answer, which may follow a moment later.
    tokio::time::sleep(Duration::from_millis(100)).await;
    ok(chat(&gateway, "chat", false).await);
    assert_eq!(front.accepted(), 1, "one connection for five requests");

    // The provider closes the idle connection. The gateway notices the close
    // when it arrives; a request racing the close itself could still fail,
    // as with any HTTP/1.1 client, since a POST is not safe to resend.
    front.close_all();
    tokio::time::sleep(Duration::from_millis(200)).await;
    ok(chat(&gateway, "chat", false).await);
    assert_eq!(
        front.accepted(),
        2,
        "a new connection replaced the closed one"
    );

    // A caller leaves a slow stream after its first chunk: the gateway stops
    // reading the provider's answer, so that connection still holds the rest.
    let mut abandoned = gateway.post_chat(&question("slow", true)).await;
    assert_eq!(abandoned.status(), 200);
    assert!(abandoned.chunk().await.expect("first chunk").is_some());
    drop(abandoned);
    front.wait_closed().await;
    ok(chat(&gateway, "chat", false).await);
    ok(chat(&gateway, "chat", false).await);
    assert_eq!(
        front.accepted(),
        3,
        "the abandoned connection was closed, and its successor kept"
    );
}

/// Without the test CA in the trust store the provider's certificate is
/// refused: nothing is sent, and the caller gets a clear 502-class error.
#[tokio::test]
async fn untrusted_certificate_is_refused() {
    let dir = TempDir::new();
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let front = TlsFront::start(replay.addr(), &dir.path, &["h2", "http/1.1"]).await;
    let setup = Setup {
        origin: Some(front.origin.clone()),
        // An empty trust store: no system CA can vouch for the test one either.
        env: vec![(
            "SSL_CERT_FILE".into(),
            dir.path.join("none.pem").display().to_string(),
        )],
        ..Setup::default()
    };
    std::fs::write(dir.path.join("none.pem"), "").expect("write");
    let gateway = Gateway::start_with(
        replay,
        &[Model::openai("chat", CHAT_FIXTURE, "gpt-4o")],
        &setup,
    )
    .await;

    let (status, body) = chat(&gateway, "chat", false).await;
    assert!(status == 502 || status == 503, "{status}: {body}");
    let error: Value = serde_json::from_str(&body).expect("OpenAI error JSON");
    let message = error["error"]["message"].as_str().expect("message");
    assert!(message.contains("certificate"), "{message}");
    assert!(gateway.replay.requests().is_empty());
}

/// A provider that accepts the connection and never answers the TLS
/// handshake: the requests waiting for that connection fail once the
/// connect timeout (10 s) has passed, not at their own 600 s timeout.
#[tokio::test]
async fn stalled_handshake_times_out() {
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accepted and held, never read from or written to.
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let setup = Setup {
        origin: Some(format!("https://localhost:{port}")),
        ..Setup::default()
    };
    let gateway = Gateway::start_with(
        replay,
        &[Model::openai("chat", CHAT_FIXTURE, "gpt-4o")],
        &setup,
    )
    .await;

    let started = Instant::now();
    let answers = chats_at_once(&gateway, "chat", 2).await;
    let waited = started.elapsed();
    for (status, body) in answers {
        assert!(status == 502 || status == 503, "{status}: {body}");
        assert!(body.contains("timed out"), "{body}");
    }
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(30)).contains(&waited),
        "failed after {waited:?}"
    );
    held.abort();
}

/// `HTTPS_PROXY` and `HTTP_PROXY` from the environment are used with their
/// credentials: HTTPS through a CONNECT tunnel (end to end TLS, so the
/// provider sees no proxy header), plain HTTP forwarded by the proxy (which
/// adds its `Via`); `NO_PROXY` hosts are reached directly. The proxy demands
/// basic auth (407 without it), so both 200s show the credentials were sent.
#[tokio::test]
async fn proxies_from_the_environment() {
    let dir = TempDir::new();
    let proxy = Proxy::start(&dir.path);
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let front = TlsFront::start(replay.addr(), &dir.path, &["h2", "http/1.1"]).await;
    let models = [
        Model::openai("tls", CHAT_FIXTURE, "gpt-4o"),
        Model::openai("plain", CHAT_FIXTURE, "gpt-4o").direct(),
    ];
    let mut setup = Setup {
        origin: Some(front.origin.clone()),
        env: vec![
            ("SSL_CERT_FILE".into(), front.ca_file.display().to_string()),
            ("HTTPS_PROXY".into(), proxy.url()),
            ("HTTP_PROXY".into(), proxy.url()),
        ],
        ..Setup::default()
    };
    let gateway = Gateway::start_with(replay, &models, &setup).await;

    let (status, body) = chat(&gateway, "tls", false).await;
    assert_eq!(status, 200, "{body}\n{}\n{}", gateway.log(), proxy.log());
    let (status, body) = chat(&gateway, "plain", false).await;
    assert_eq!(status, 200, "{body}\n{}\n{}", gateway.log(), proxy.log());

    let requests = gateway.replay.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("via"), None, "tunnelled: {requests:?}");
    let via = requests[1].header("via").unwrap_or_default();
    assert!(via.contains("tinyproxy"), "forwarded: {requests:?}");
    for request in &requests {
        assert_eq!(request.header("proxy-authorization"), None);
    }
    let tunnel = format!("CONNECT localhost:{}", front.port);
    let log = proxy.log_mentioning(&tunnel).await;
    assert!(log.contains(&tunnel), "{log}");
    assert_eq!(front.protocols(), ["h2"]);

    // The same gateway with the replay host exempted goes around the proxy.
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    setup.env.push(("NO_PROXY".into(), "127.0.0.1".into()));
    let direct = Gateway::start_with(replay, &models[1..], &setup).await;
    let (status, body) = chat(&direct, "plain", false).await;
    assert_eq!(status, 200, "{body}");
    let requests = direct.replay.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("via"), None, "{requests:?}");
}
