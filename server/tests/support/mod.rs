//! Black-box harness: the real `switchboard` binary on 127.0.0.1, in front of
//! the conformance replay server playing recorded provider traffic.

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_conformance::PAUSE_HEADER;

pub use switchboard_conformance::{ReplayServer, fixtures_dir};

pub const MASTER_KEY: &str = "sk-master-test";
pub const UPSTREAM_KEY: &str = "sk-upstream-secret";

/// One deployment of the test config: a model name played by one fixture.
pub struct Model<'a> {
    pub name: &'a str,
    pub provider: &'a str,
    pub fixture: &'a str,
    pub model_id: &'a str,
    /// Milliseconds the replay server waits between stream events (or
    /// halfway through a JSON body).
    pub pause_ms: Option<u64>,
    /// The deployment's `timeout`, in seconds.
    pub timeout_secs: Option<u64>,
    /// Reached at the replay server itself, whatever `Setup::origin` says.
    pub direct: bool,
    /// Without `api_key`: the provider finds its credentials elsewhere.
    pub keyless: bool,
}

impl<'a> Model<'a> {
    pub fn openai(name: &'a str, fixture: &'a str, model_id: &'a str) -> Self {
        Self {
            name,
            provider: "openai",
            fixture,
            model_id,
            pause_ms: None,
            timeout_secs: None,
            direct: false,
            keyless: false,
        }
    }

    /// A Bedrock deployment, with no key: it signs with whatever AWS
    /// credentials the gateway's environment gives it.
    pub fn bedrock(name: &'a str, fixture: &'a str, model_id: &'a str) -> Self {
        Self {
            provider: "bedrock",
            keyless: true,
            ..Self::openai(name, fixture, model_id)
        }
    }

    pub fn direct(mut self) -> Self {
        self.direct = true;
        self
    }

    pub fn paused(mut self, ms: u64) -> Self {
        self.pause_ms = Some(ms);
        self
    }

    pub fn timeout(mut self, secs: u64) -> Self {
        self.timeout_secs = Some(secs);
        self
    }
}

/// Variables the gateway reads its upstream proxies from; unset for every
/// test gateway unless its `Setup` sets them, so the machine's own proxy
/// settings cannot change a result.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// How a test gateway reaches its upstream.
#[derive(Default)]
pub struct Setup {
    /// Replaces `http://{replay address}` in every deployment's `api_base`
    /// (`Model::direct` ones excepted), e.g. with a TLS front's origin.
    pub origin: Option<String>,
    /// Extra environment of the gateway process.
    pub env: Vec<(String, String)>,
    /// Extra `server:` settings of the config, name and YAML value.
    pub server: Vec<(&'static str, String)>,
}

impl Setup {
    fn base_url(&self, replay: &ReplayServer, model: &Model) -> String {
        let url = replay.base_url(model.provider, model.fixture);
        match &self.origin {
            Some(origin) if !model.direct => {
                url.replacen(&format!("http://{}", replay.addr()), origin, 1)
            }
            _ => url,
        }
    }
}

/// A running gateway process; stopped (SIGTERM, then kill) on drop.
pub struct Gateway {
    child: Option<Child>,
    pub addr: String,
    pub replay: ReplayServer,
    log_path: PathBuf,
    _dir: TempDir,
}

impl Gateway {
    /// Starts the replay server and a gateway serving `models`, with the
    /// master key set and `max_body_bytes` of 64 KiB.
    pub async fn start(models: &[Model<'_>]) -> Gateway {
        let replay = ReplayServer::start(fixtures_dir())
            .await
            .expect("replay server");
        Self::start_with(replay, models, &Setup::default()).await
    }

    /// Starts a gateway serving `models` from `replay`, reached as `setup`
    /// says.
    pub async fn start_with(replay: ReplayServer, models: &[Model<'_>], setup: &Setup) -> Gateway {
        let mut yaml = format!(
            // One worker thread selects the current-thread runtime; the SDK
            // suite runs the default multi-thread one, so both are covered.
            "general_settings:\n  master_key: {MASTER_KEY}\nserver:\n  max_body_bytes: 65536\n  worker_threads: 1\n"
        );
        for (name, value) in &setup.server {
            yaml.push_str(&format!("  {name}: {value}\n"));
        }
        yaml.push_str("model_list:\n");
        for m in models {
            yaml.push_str(&format!(
                "  - model_name: {}\n    params:\n      model: {}/{}\n      api_base: {}\n",
                m.name,
                m.provider,
                m.model_id,
                setup.base_url(&replay, m)
            ));
            if !m.keyless {
                yaml.push_str(&format!("      api_key: {UPSTREAM_KEY}\n"));
            }
            if let Some(secs) = m.timeout_secs {
                yaml.push_str(&format!("      timeout: {secs}\n"));
            }
            if let Some(ms) = m.pause_ms {
                yaml.push_str(&format!(
                    "      extra_headers: {{{PAUSE_HEADER}: \"{ms}\"}}\n"
                ));
            }
        }
        let dir = TempDir::new();
        let config = dir.path.join("config.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let log_path = dir.path.join("gateway.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        for name in PROXY_VARIABLES {
            command.env_remove(name);
        }
        let child = command
            .args(["serve", "--config"])
            .arg(&config)
            // Port 0: a port chosen here could be taken by another test's
            // connection before the gateway binds it.
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "debug")
            .envs(setup.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn switchboard");
        let mut gateway = Gateway {
            child: Some(child),
            addr: String::new(),
            replay,
            log_path,
            _dir: dir,
        };
        gateway.addr = gateway.bound_addr().await;
        gateway.wait_ready().await;
        gateway
    }

    /// The address the gateway bound, from its "listening" log line.
    async fn bound_addr(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let log = self.log();
            let listening = log.lines().find(|l| l.contains("switchboard listening"));
            if let Some(addr) =
                listening.and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("addr=")))
            {
                return addr.to_owned();
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("gateway exited ({status}); log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("gateway not listening; log:\n{}", self.log());
    }

    async fn wait_ready(&self) {
        let client = http_client();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(r) = client
                .get(format!("{}/health/readiness", self.url()))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway not ready; log:\n{}", self.log());
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// POSTs a chat request to the facade with the master key.
    pub async fn post_chat(&self, body: &serde_json::Value) -> reqwest::Response {
        http_client()
            .post(format!("{}/v1/chat/completions", self.url()))
            .bearer_auth(MASTER_KEY)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        sigterm(child.id());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("gateway did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A plain HTTP/1.1 client.
/// What a stalled upstream or client costs: about the 1 s timeout the
/// tests configure.
pub fn took_the_timeout(started: Instant) {
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

pub fn http_client() -> reqwest::Client {
    switchboard_conformance::http_client_builder()
        .http1_only()
        .build()
        .expect("client")
}

pub fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

/// The kernel's timer (`tr`) and its ticks to expiry (`tm->when`) for each
/// established IPv4 connection from 127.0.0.1:`local` (any port if `None`)
/// to 127.0.0.1:`remote`, from `/proc/net/tcp`. Timer 2 is keepalive's.
fn tcp_timers(local: Option<u16>, remote: u16) -> Vec<(u8, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let address = |port: u16| format!("0100007F:{port:04X}");
    let remote = address(remote);
    let local = local.map(address);
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (timer, ticks) = fields.get(5)?.split_once(':')?;
            let ours = fields.get(2) == Some(&remote.as_str())
                && local.as_deref().is_none_or(|l| fields.get(1) == Some(&l))
                && fields.get(3) == Some(&"01");
            ours.then(|| {
                (
                    u8::from_str_radix(timer, 16).expect("timer"),
                    u64::from_str_radix(ticks, 16).expect("ticks"),
                )
            })
        })
        .collect()
}

/// [`tcp_timers`] once every connection shows keepalive's timer (2), or as
/// they are after `tries` looks 25 ms apart (timer 1, retransmission's, may
/// show while a last frame is unacknowledged).
pub async fn keepalive_timers(local: Option<u16>, remote: u16, tries: usize) -> Vec<(u8, u64)> {
    let mut timers = tcp_timers(local, remote);
    for _ in 0..tries {
        if timers.iter().all(|(timer, _)| *timer == 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        timers = tcp_timers(local, remote);
    }
    timers
}

/// A port free a moment ago, for a program that cannot bind port 0 and say
/// which port it got (tinyproxy). Another test may take it first; the
/// gateway is started on port 0 instead (`Gateway::bound_addr`).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A directory removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("switchboard-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Reads a recorded fixture file as JSON.
pub fn fixture_json(provider: &str, name: &str) -> serde_json::Value {
    let path = fixtures_dir().join(provider).join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture json")
}

/// The `data:` payloads of a recorded SSE fixture, without `[DONE]`.
pub fn sse_payloads(provider: &str, name: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(fixtures_dir().join(provider).join(name)).expect("fixture");
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("event json"))
        .collect()
}
