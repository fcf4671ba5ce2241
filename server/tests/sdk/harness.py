"""Harness for the black-box OpenAI-SDK suite (imported by conftest.py and the tests).

Starts the real `switchboard-replay` upstream and one real `switchboard` gateway (both as
subprocesses), writes a LiteLLM-shaped YAML config with one model_name per recorded fixture, and
captures the gateway's stdout/stderr to a file so the last test can check it for leaked secrets.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]  # server/tests/sdk -> repo root

MASTER_KEY = "sk-master-test"
UPSTREAM_KEY = "sk-upstream-secret"
SECRETS = (MASTER_KEY, UPSTREAM_KEY)
UPSTREAM_KEY_ENV = "SB_SDK_TEST_UPSTREAM_KEY"
MAX_BODY_BYTES = 1048576
PAUSE_MS = 400

# model_name -> fixture for the models that don't simply use the fixture name.
STREAM_PAUSED_MODEL = "stream-paused"
ENV_KEY_MODEL = "basic-envkey"

# Every fixture a test uses; the model_name clients send is the fixture name itself.
OPENAI_FIXTURES = [
    "system__gpt-4o-system-prompt",
    "tools__single-tool-call",
    "tools-parallel__two-tool-calls",
    "tool-result__two-tool-results",
    "vision__image-data-url-jpeg",
    "cache-usage__gpt-4o-cached-tokens-3584",
    "reasoning__o3-mini-reasoning-tokens-usage",
    "structured__json-schema-with-tool-call",
    "stream__gpt-4o-text-include-usage",
    "tools-stream__gpt-4o-mini-multiply-arg-deltas",
    "embeddings__query-float",
    "embeddings__base64-dimensions-128",
    "error-401__invalid-api-key",
    "error-404__model-not-found",
    "error-404__embeddings-model-not-found",
    "error-400__unsupported-parameter",
    "error-429__rate-limit-exceeded",
]

# Everything a test saw from the gateway (error messages, raw bodies); checked for secrets at the end.
OBSERVED: list[str] = []


def observe(*texts: Any) -> None:
    for t in texts:
        if t is None:
            continue
        OBSERVED.append(t if isinstance(t, str) else repr(t))


def assert_no_secrets(text: str, where: str) -> None:
    for s in SECRETS:
        assert s not in text, f"secret {s!r} leaked in {where}: ...{_around(text, s)}..."


def _around(text: str, needle: str, n: int = 120) -> str:
    i = text.find(needle)
    return text[max(0, i - n) : i + len(needle) + n]


# --------------------------------------------------------------------------- fixtures on disk


def fixtures_root() -> Path:
    env = os.environ.get("SWITCHBOARD_FIXTURES")
    if env:
        return Path(env)
    local = REPO_ROOT / "conformance" / "fixtures" / "upstream"
    if (local / "openai").is_dir():
        return local
    return Path("/work/shared/fixtures/upstream")


class Fixture:
    """One recorded exchange: request.json (if any), response.{json,sse}, meta.json."""

    def __init__(self, provider: str, name: str):
        self.provider = provider
        self.name = name
        base = fixtures_root() / provider
        self.dir = base
        self.exists = (base / f"{name}.meta.json").is_file()
        self.meta = self._json(f"{name}.meta.json") or {}
        self.request = self._json(f"{name}.request.json")
        self.response = self._json(f"{name}.response.json")
        sse = base / f"{name}.response.sse"
        self.sse_text = sse.read_text() if sse.is_file() else None

    def _json(self, fname: str):
        p = self.dir / fname
        return json.loads(p.read_text()) if p.is_file() else None

    @property
    def status(self) -> int:
        return self.meta.get("status", 200)

    @property
    def headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.meta.get("headers", {}).items()}

    @property
    def upstream_model(self) -> str:
        if self.request and "model" in self.request:
            return self.request["model"]
        return "gpt-4o"

    def sse_events(self) -> list[dict]:
        """The JSON payloads of the `data:` events, in order, without [DONE]."""
        out = []
        for line in (self.sse_text or "").splitlines():
            if line.startswith("data:"):
                payload = line[5:].strip()
                if payload and payload != "[DONE]":
                    out.append(json.loads(payload))
        return out

    def sse_event_count(self) -> int:
        """All `data:` events including [DONE]."""
        return sum(1 for line in (self.sse_text or "").splitlines() if line.startswith("data:"))


def load_fixture(name: str, provider: str = "openai") -> Fixture:
    return Fixture(provider, name)


# --------------------------------------------------------------------------- processes


def _bin(env: str, default: str) -> Path:
    p = Path(os.environ.get(env) or (REPO_ROOT / default))
    if not p.is_file():
        pytest.fail(f"{p} not found (set {env} or run `cargo build --bins` in {REPO_ROOT})", pytrace=False)
    return p


# The gateway is started on port 0 (a port chosen here could be taken before
# it binds it) and says which port it bound in this log line.
LISTENING = re.compile(r"switchboard listening.*\baddr=127\.0\.0\.1:(\d+)")


def _announced(log: Path, pattern: re.Pattern | str, proc: subprocess.Popen, deadline: float) -> re.Match | None:
    """Waits for `pattern` in `log`: None if the process exits or the deadline passes first."""
    while time.monotonic() < deadline:
        m = re.search(pattern, log.read_text(errors="replace"))
        if m:
            return m
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "<no log>"


def _stop(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9999  # did not exit on SIGTERM
    return proc.returncode


class Replay:
    def __init__(self, proc: subprocess.Popen, url: str, log: Path):
        self.proc = proc
        self.url = url.rstrip("/")
        self.log = log
        self.http = httpx.Client(timeout=10)

    def base(self, fixture: str, provider: str = "openai") -> str:
        return f"{self.url}/{provider}/{fixture}/v1"

    def clear(self) -> None:
        self.http.delete(f"{self.url}/_replay/requests").raise_for_status()

    def requests(self, fixture: str | None = None, provider: str = "openai") -> list[dict]:
        r = self.http.get(f"{self.url}/_replay/requests")
        r.raise_for_status()
        reqs = r.json()
        if fixture is not None:
            prefix = f"/{provider}/{fixture}/"
            reqs = [q for q in reqs if q["path"].startswith(prefix)]
        return reqs

    def only_request(self, fixture: str, provider: str = "openai") -> dict:
        reqs = self.requests(fixture, provider)
        assert len(reqs) == 1, f"expected exactly one upstream request for {fixture}, got {len(reqs)}: " + json.dumps(
            [q.get("path") for q in reqs]
        )
        return reqs[0]


@pytest.fixture(scope="session")
def replay(tmp_path_factory) -> Replay:
    binary = _bin("SWITCHBOARD_REPLAY_BIN", "target/debug/switchboard-replay")
    d = tmp_path_factory.mktemp("replay")
    out, err = d / "stdout.log", d / "stderr.log"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            [str(binary), "--fixtures", str(fixtures_root()), "--listen", "127.0.0.1:0"],
            stdout=fo,
            stderr=fe,
            cwd=REPO_ROOT,
        )
    announced = _announced(out, r"listening on (http://\S+)", proc, time.monotonic() + 10)
    if announced is None:
        _stop(proc)
        pytest.fail(f"switchboard-replay did not announce its address\nstdout: {_tail(out)}\nstderr: {_tail(err)}")
    r = Replay(proc, announced.group(1), err)
    yield r
    _stop(proc)


def _yaml_scalar(v: Any) -> str:
    # JSON scalars are valid YAML flow scalars.
    return json.dumps(v)


def _to_yaml(obj: Any, indent: int = 0) -> str:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(_to_yaml(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_yaml_scalar(v) if not isinstance(v, (dict, list)) else json.dumps(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                sub = _to_yaml(item, indent + 1).splitlines()
                first = sub[0].lstrip()
                lines.append(f"{pad}- {first}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    return "\n".join(lines)


def model_entry(model_name: str, fixture: Fixture, replay: Replay, api_key: str = UPSTREAM_KEY, extra_headers=None,
                params_key: str = "params") -> dict:
    params: dict[str, Any] = {
        "model": f"openai/{fixture.upstream_model}",
        "api_base": replay.base(fixture.name, fixture.provider),
        "api_key": api_key,
    }
    if extra_headers:
        params["extra_headers"] = extra_headers
    return {"model_name": model_name, params_key: params}


def build_config(replay: Replay) -> dict:
    models = []
    for name in OPENAI_FIXTURES:
        fx = load_fixture(name)
        # A missing fixture is a broken suite, never a silently skipped test.
        assert fx.exists, f"fixture openai/{name} is missing"
        models.append(model_entry(name, fx, replay))
    stream_fx = load_fixture("stream__gpt-4o-text-include-usage")
    models.append(model_entry(STREAM_PAUSED_MODEL, stream_fx, replay, extra_headers={"x-replay-pause-ms": str(PAUSE_MS)}))
    models.append(model_entry(ENV_KEY_MODEL, load_fixture("system__gpt-4o-system-prompt"), replay,
                              api_key=f"os.environ/{UPSTREAM_KEY_ENV}"))
    return {
        "general_settings": {"master_key": MASTER_KEY},
        "server": {"max_body_bytes": MAX_BODY_BYTES},
        "model_list": models,
    }


class Gateway:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path, config: dict, config_path: Path):
        self.proc = proc
        self.port = port
        self.log = log
        self.config = config
        self.config_path = config_path
        self.exit_code: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def model_names(self) -> list[str]:
        return [m["model_name"] for m in self.config["model_list"]]

    def client(self, api_key: str = MASTER_KEY, **kw) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0, **kw)

    def stop(self) -> int:
        if self.exit_code is None:
            self.exit_code = _stop(self.proc)
        return self.exit_code

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_gateway(config: dict, workdir: Path) -> Gateway:
    binary = _bin("SWITCHBOARD_BIN", "target/debug/switchboard")
    cfg_path = workdir / "switchboard.yaml"
    cfg_path.write_text(_to_yaml(config) + "\n")
    log = workdir / "gateway.log"
    env = dict(os.environ)
    env[UPSTREAM_KEY_ENV] = UPSTREAM_KEY
    env["RUST_LOG"] = os.environ.get("SWITCHBOARD_TEST_RUST_LOG", "info,switchboard=debug")
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [str(binary), "serve", "--config", str(cfg_path), "--listen", "127.0.0.1:0"],
            stdout=f,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
        )
    deadline = time.monotonic() + 10
    listening = _announced(log, LISTENING, proc, deadline)
    if listening is None:
        _stop(proc)
        pytest.fail(f"gateway exited with {proc.returncode} or did not listen within 10 s\n"
                    f"config: {cfg_path}\nlog:\n{_tail(log)}", pytrace=False)
    gw = Gateway(proc, int(listening.group(1)), log, config, cfg_path)
    last = "no response"
    with httpx.Client(timeout=1) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"gateway exited with {proc.returncode} before becoming ready\n"
                            f"config: {cfg_path}\nlog:\n{_tail(log)}", pytrace=False)
            try:
                r = http.get(f"{gw.url}/health/readiness")
                last = f"{r.status_code} {r.text[:200]}"
                if r.status_code == 200:
                    return gw
            except httpx.HTTPError as e:
                last = repr(e)
            time.sleep(0.1)
        # diagnostics: does readiness need auth?
        try:
            r = http.get(f"{gw.url}/health/readiness", headers={"Authorization": f"Bearer {MASTER_KEY}"})
            last += f"; with master key: {r.status_code}"
        except httpx.HTTPError:
            pass
    gw.stop()
    pytest.fail(f"gateway not ready on /health/readiness within 10 s (last: {last})\nlog:\n{_tail(log)}", pytrace=False)


@pytest.fixture(scope="session")
def gateway(replay, tmp_path_factory) -> Gateway:
    gw = start_gateway(build_config(replay), tmp_path_factory.mktemp("gateway"))
    yield gw
    gw.stop()


@pytest.fixture
def client(gateway) -> openai.OpenAI:
    c = gateway.client()
    yield c
    c.close()


class SentRecorder:
    """httpx event hook that keeps the JSON bodies the SDK actually put on the wire."""

    def __init__(self):
        self.bodies: list[Any] = []
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> None:
        self.headers.append(request.headers)
        try:
            self.bodies.append(json.loads(request.content) if request.content else None)
        except (ValueError, httpx.RequestNotRead):
            self.bodies.append(None)

    @property
    def last(self) -> Any:
        assert self.bodies, "the SDK sent nothing"
        return self.bodies[-1]


@pytest.fixture
def recorded_client(gateway):
    rec = SentRecorder()
    http = httpx.Client(event_hooks={"request": [rec]}, timeout=30)
    c = gateway.client(http_client=http)
    yield c, rec
    c.close()


@pytest.fixture(autouse=True)
def _clear_replay(request):
    # Tests that talk to the upstream start from an empty request log.
    if "replay" in request.fixturenames:
        request.getfixturevalue("replay").clear()
    yield
