"""Black-box tests: the official OpenAI Python SDK against the real Switchboard gateway binary,
with the real switchboard-replay binary standing in for api.openai.com.

Every expected value comes from the recorded fixture files, never from the gateway.
Tests run in file order; the last one stops the gateway (SIGTERM) and checks its logs for secrets.
"""

from __future__ import annotations

import array
import base64
import copy
import json
import time
from typing import Any

import httpx
import openai
import pytest

from harness import (
    ENV_KEY_MODEL,
    MASTER_KEY,
    MAX_BODY_BYTES,
    PAUSE_MS,
    SECRETS,
    STREAM_PAUSED_MODEL,
    UPSTREAM_KEY,
    OBSERVED,
    Gateway,
    Replay,
    assert_no_secrets,
    load_fixture,
    observe,
    start_gateway,
    model_entry,
)

# --------------------------------------------------------------------------- helpers


def request_kwargs(fx) -> dict:
    """The fixture's recorded request body minus `model`, as SDK keyword arguments."""
    return {k: copy.deepcopy(v) for k, v in fx.request.items() if k != "model"}


def assert_upstream_headers(req: dict) -> None:
    headers = req["headers"]
    names = [n.lower() for n, _ in headers]
    dups = sorted({n for n in names if names.count(n) > 1})
    assert not dups, f"headers sent upstream more than once: {dups}"
    auth = [v for n, v in headers if n.lower() == "authorization"]
    assert auth == [f"Bearer {UPSTREAM_KEY}"], f"upstream Authorization was {auth!r}"
    for n, v in headers:
        assert MASTER_KEY not in v, f"client master key forwarded upstream in header {n!r}"


def assert_faithful(replay: Replay, fx, sent: dict, endpoint: str = "chat/completions") -> dict:
    """The upstream got exactly what the SDK sent, with only `model` rewritten. Returns the upstream request."""
    req = replay.only_request(fx.name)
    assert req["method"] == "POST"
    assert req["path"] == f"/openai/{fx.name}/v1/{endpoint}", req["path"]
    assert_upstream_headers(req)
    body = req["body"]
    assert body.get("model") == fx.upstream_model, f"model sent upstream: {body.get('model')!r}"
    expected = dict(sent, model=fx.upstream_model)
    injected = {k: body[k] for k in sorted(set(body) - set(expected))}
    dropped = {k: expected[k] for k in sorted(set(expected) - set(body))}
    changed = sorted(k for k in set(body) & set(expected) if body[k] != expected[k])
    problems = []
    if injected:
        problems.append(f"injected {json.dumps(injected)[:300]}")
    if dropped:
        problems.append(f"dropped {json.dumps(dropped)[:300]}")
    if changed:
        problems.append(f"changed {changed}")
    assert not problems, "upstream body != client body (model aside): " + "; ".join(problems)
    return req


def assert_subset(actual: Any, expected: Any, path: str = "") -> None:
    """Every leaf of `expected` is present and equal in `actual` (extra keys in `actual` allowed)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path or '.'}: expected object, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{path}.{k} missing (expected {v!r})"
            assert_subset(actual[k], v, f"{path}.{k}")
    else:
        assert actual == expected, f"{path}: got {actual!r}, expected {expected!r}"


def api_error_json(resp: httpx.Response) -> dict:
    """The body is OpenAI error JSON {"error": {"message", "type", "param", "code"}}."""
    assert_no_secrets(resp.text, f"{resp.status_code} response body")
    observe(resp.text)
    try:
        data = resp.json()
    except ValueError:
        pytest.fail(f"{resp.status_code} body is not JSON: {resp.text[:300]!r} (content-type {resp.headers.get('content-type')})")
    assert isinstance(data, dict) and isinstance(data.get("error"), dict), f"not OpenAI error JSON: {data!r}"
    err = data["error"]
    for k in ("message", "type", "param", "code"):
        assert k in err, f"error JSON lacks {k!r}: {err!r}"
    assert isinstance(err["message"], str) and err["message"], f"empty error message: {err!r}"
    return err


def f32(values) -> bytes:
    return array.array("f", values).tobytes()


# --------------------------------------------------------------------------- 1. basic chat


def test_basic_chat_system_prompt(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("system__gpt-4o-system-prompt")
    resp = client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    observe(resp.to_json())

    want = fx.response
    assert resp.id == want["id"]
    assert resp.object == "chat.completion"
    assert len(resp.choices) == 1
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == want["choices"][0]["message"]["content"]
    assert resp.choices[0].finish_reason == "stop"
    assert_subset(resp.usage.to_dict(), want["usage"], "usage")

    req = assert_faithful(replay, fx, sent.last)
    body = req["body"]
    assert body["messages"] == fx.request["messages"]
    assert "tools" not in body and "tool_choice" not in body
    ctype = [v for n, v in req["headers"] if n.lower() == "content-type"]
    assert ctype and ctype[0].startswith("application/json"), ctype


def test_api_key_from_environment(gateway, replay):
    """`api_key: os.environ/NAME` resolves to the variable's value for the upstream call."""
    fx = load_fixture("system__gpt-4o-system-prompt")
    with gateway.client() as client:
        resp = client.chat.completions.create(model=ENV_KEY_MODEL, messages=fx.request["messages"])
    assert resp.choices[0].message.content == fx.response["choices"][0]["message"]["content"]
    req = replay.only_request(fx.name)
    assert_upstream_headers(req)
    assert req["body"]["model"] == fx.upstream_model


# --------------------------------------------------------------------------- 2-3. tools


def test_single_tool_call(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("tools__single-tool-call")
    resp = client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    observe(resp.to_json())
    want = fx.response["choices"][0]
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert len(choice.message.tool_calls) == 1
    tc, wtc = choice.message.tool_calls[0], want["message"]["tool_calls"][0]
    assert tc.id == wtc["id"]
    assert tc.type == "function"
    assert tc.function.name == wtc["function"]["name"] == "get_temperature"
    assert tc.function.arguments == wtc["function"]["arguments"]
    assert json.loads(tc.function.arguments) == {"city": "Tokyo"}
    assert_subset(resp.usage.to_dict(), fx.response["usage"], "usage")

    req = assert_faithful(replay, fx, sent.last)
    # what the client sent is the recorded request, so the upstream body equals it except `model`
    assert {k: v for k, v in req["body"].items() if k != "model"} == request_kwargs(fx)
    assert req["body"]["tools"][0]["function"]["strict"] is True


def test_parallel_tool_calls(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("tools-parallel__two-tool-calls")
    resp = client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    want_calls = fx.response["choices"][0]["message"]["tool_calls"]
    got = [(t.id, t.function.name, t.function.arguments) for t in choice.message.tool_calls]
    assert got == [(t["id"], t["function"]["name"], t["function"]["arguments"]) for t in want_calls]
    assert [json.loads(a)["password"] for _, _, a in got] == ["mellon", "radiance"]
    assert_subset(resp.usage.to_dict(), fx.response["usage"], "usage")
    req = assert_faithful(replay, fx, sent.last)
    assert req["body"]["tools"] == fx.request["tools"]


def test_tool_result_round_trip(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("tool-result__two-tool-results")
    kwargs = request_kwargs(fx)
    resp = client.chat.completions.create(model=fx.name, **kwargs)
    assert resp.choices[0].message.content == fx.response["choices"][0]["message"]["content"]
    assert resp.choices[0].finish_reason == "stop"
    assert_subset(resp.usage.to_dict(), fx.response["usage"], "usage")

    # the SDK itself sent the recorded messages verbatim ...
    assert sent.last["messages"] == fx.request["messages"]
    # ... and the upstream got them unchanged: assistant tool_calls (no content key), both tool messages
    req = assert_faithful(replay, fx, sent.last)
    msgs = req["body"]["messages"]
    assert msgs == fx.request["messages"]
    assert "content" not in msgs[2], f"gateway added content to the assistant tool_calls message: {msgs[2]!r}"
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in msgs[3:]] == [t["id"] for t in msgs[2]["tool_calls"]]


# --------------------------------------------------------------------------- 4. vision


def test_vision_data_url(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("vision__image-data-url-jpeg")
    resp = client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    assert resp.choices[0].message.content == fx.response["choices"][0]["message"]["content"]
    assert_subset(resp.usage.to_dict(), fx.response["usage"], "usage")
    req = assert_faithful(replay, fx, sent.last)
    want_url = fx.request["messages"][0]["content"][1]["image_url"]["url"]
    got_url = req["body"]["messages"][0]["content"][1]["image_url"]["url"]
    assert want_url.startswith("data:image/jpeg;base64,")
    assert len(got_url) == len(want_url) and got_url == want_url, "image data URL altered on the way upstream"
    assert req["body"]["messages"][0]["content"] == fx.request["messages"][0]["content"]


# --------------------------------------------------------------------------- 5. usage details


def test_cached_tokens(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("cache-usage__gpt-4o-cached-tokens-3584")
    resp = client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    want = fx.response["usage"]
    assert want["prompt_tokens_details"]["cached_tokens"] == 3584
    assert resp.usage.prompt_tokens_details is not None, "prompt_tokens_details dropped"
    assert resp.usage.prompt_tokens_details.cached_tokens == want["prompt_tokens_details"]["cached_tokens"]
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (
        want["prompt_tokens"], want["completion_tokens"], want["total_tokens"])
    assert_subset(resp.usage.to_dict(), want, "usage")
    assert resp.choices[0].message.content == fx.response["choices"][0]["message"]["content"]
    assert_faithful(replay, fx, sent.last)


def test_reasoning_tokens(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("reasoning__o3-mini-reasoning-tokens-usage")
    resp = client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    want = fx.response["usage"]
    assert resp.usage.completion_tokens_details is not None, "completion_tokens_details dropped"
    assert resp.usage.completion_tokens_details.reasoning_tokens == want["completion_tokens_details"]["reasoning_tokens"] == 64
    assert resp.usage.completion_tokens == want["completion_tokens"]
    assert_subset(resp.usage.to_dict(), want, "usage")
    req = assert_faithful(replay, fx, sent.last)
    assert req["body"]["max_completion_tokens"] == 100
    assert "max_tokens" not in req["body"]


# --------------------------------------------------------------------------- 6. structured output


def test_structured_output_json_schema(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("structured__json-schema-with-tool-call")
    resp = client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    choice = resp.choices[0]
    want = fx.response["choices"][0]["message"]["tool_calls"][0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == want["function"]["name"]
    assert choice.message.tool_calls[0].function.arguments == want["function"]["arguments"]
    req = assert_faithful(replay, fx, sent.last)
    assert req["body"]["response_format"] == fx.request["response_format"]
    assert req["body"]["tools"] == fx.request["tools"]


# --------------------------------------------------------------------------- 7-9. streaming


def test_stream_text_include_usage(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("stream__gpt-4o-text-include-usage")
    events = fx.sse_events()
    want_text = "".join(
        (e["choices"][0]["delta"].get("content") or "") for e in events if e["choices"]
    )
    want_usage = events[-1]["usage"]
    assert want_text == "The capital of Mexico is Mexico City."

    stream = client.chat.completions.create(
        model=fx.name, messages=fx.request["messages"], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks, "empty stream"
    text = "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
    assert text == want_text
    assert {c.id for c in chunks} == {events[0]["id"]}, "chunk ids differ from the upstream's"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [], f"last chunk should be the usage chunk with choices == [], got {last.choices!r}"
    assert last.usage is not None
    assert_subset(last.usage.to_dict(), want_usage, "usage")
    assert all(c.usage is None for c in chunks[:-1]), "usage on a non-final chunk"

    req = assert_faithful(replay, fx, sent.last)
    assert req["body"]["stream"] is True
    assert req["body"]["stream_options"] == {"include_usage": True}


def test_stream_tool_call_argument_deltas(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("tools-stream__gpt-4o-mini-multiply-arg-deltas")
    events = fx.sse_events()
    want_args: dict[int, str] = {}
    want_names: dict[int, str] = {}
    want_ids: dict[int, str] = {}
    want_fragments = 0
    for e in events:
        for ch in e["choices"]:
            for tc in ch["delta"].get("tool_calls") or []:
                fn = tc.get("function") or {}
                want_args[tc["index"]] = want_args.get(tc["index"], "") + (fn.get("arguments") or "")
                if fn.get("name"):
                    want_names[tc["index"]] = fn["name"]
                if tc.get("id"):
                    want_ids[tc["index"]] = tc["id"]
                if fn.get("arguments"):
                    want_fragments += 1
    assert want_args == {0: '{"a":1231,"b":2331}'} and want_fragments == 11

    stream = client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    got_args: dict[int, str] = {}
    got_names: dict[int, str] = {}
    got_ids: dict[int, str] = {}
    fragment_chunks = 0
    finish = None
    usage = None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            if ch.finish_reason:
                finish = ch.finish_reason
            had_fragment = False
            for tc in ch.delta.tool_calls or []:
                if tc.function and tc.function.name:
                    got_names[tc.index] = tc.function.name
                if tc.id:
                    got_ids[tc.index] = tc.id
                frag = (tc.function.arguments if tc.function else None) or ""
                got_args[tc.index] = got_args.get(tc.index, "") + frag
                had_fragment = had_fragment or bool(frag)
            fragment_chunks += had_fragment
    assert got_args == want_args
    assert got_names == want_names == {0: "multiply"}
    assert got_ids == want_ids
    assert fragment_chunks >= want_fragments, (
        f"argument fragments were merged: {fragment_chunks} chunks carried arguments, upstream sent {want_fragments}")
    assert finish == "tool_calls"
    assert usage is not None
    assert_subset(usage.to_dict(), events[-1]["usage"], "usage")
    req = assert_faithful(replay, fx, sent.last)
    assert req["body"]["tools"] == fx.request["tools"]


def test_stream_is_not_buffered(gateway, replay):
    fx = load_fixture("stream__gpt-4o-text-include-usage")
    n_json = len(fx.sse_events())  # 11 JSON events (+ [DONE])
    with gateway.client() as client:
        # Untimed warm-up on the unpaused model: the SDK's first chat call spends ~0.4 s importing and
        # building its resource/type modules before any byte goes on the wire (measured; not the gateway).
        for _ in client.chat.completions.create(model=fx.name, messages=fx.request["messages"], stream=True):
            pass
        replay.clear()
        t0 = time.monotonic()
        stream = client.chat.completions.create(
            model=STREAM_PAUSED_MODEL, messages=fx.request["messages"], stream=True,
            stream_options={"include_usage": True},
        )
        arrivals = []
        texts = []
        for chunk in stream:
            arrivals.append(time.monotonic() - t0)
            if chunk.choices:
                texts.append(chunk.choices[0].delta.content or "")
        total = time.monotonic() - t0

    assert "".join(texts) == "The capital of Mexico is Mexico City."
    assert len(arrivals) >= n_json - 1, f"upstream sent {n_json} chunks, client got {len(arrivals)}"
    assert arrivals[0] < 0.300, f"first chunk took {arrivals[0]*1000:.0f} ms (upstream sends it immediately)"
    min_total = 0.9 * PAUSE_MS / 1000 * (n_json - 1)
    assert total >= min_total, f"stream took {total:.2f} s < {min_total:.2f} s: upstream pauses not observed?"
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    short = [round(g * 1000) for g in gaps if g < 0.5 * PAUSE_MS / 1000]
    assert len(short) <= 1, f"chunks arrived in bursts (gaps ms: {[round(g*1000) for g in gaps]})"

    req = replay.only_request(fx.name)
    pause = [v for n, v in req["headers"] if n.lower() == "x-replay-pause-ms"]
    assert pause == [str(PAUSE_MS)], f"extra_headers not sent upstream: {pause!r}"
    assert_upstream_headers(req)


# --------------------------------------------------------------------------- 10. embeddings


def decode_fixture_embedding(fx) -> list[float]:
    emb = fx.response["data"][0]["embedding"]
    if isinstance(emb, str):
        return array.array("f", base64.b64decode(emb)).tolist()
    return emb


def test_embeddings_default_base64(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("embeddings__query-float")
    resp = client.embeddings.create(model=fx.name, input=fx.request["input"])
    assert sent.last["encoding_format"] == "base64"  # SDK default
    want = decode_fixture_embedding(fx)
    assert len(want) == 1536
    assert resp.object == "list"
    assert len(resp.data) == 1 and resp.data[0].index == 0
    got = resp.data[0].embedding
    assert len(got) == len(want)
    assert f32(got) == f32(want), "embedding values differ beyond float32 precision"
    assert (resp.usage.prompt_tokens, resp.usage.total_tokens) == (
        fx.response["usage"]["prompt_tokens"], fx.response["usage"]["total_tokens"])
    req = assert_faithful(replay, fx, sent.last, endpoint="embeddings")
    assert {k: v for k, v in req["body"].items() if k != "model"} == request_kwargs(fx)


def test_embeddings_dimensions(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("embeddings__base64-dimensions-128")
    resp = client.embeddings.create(model=fx.name, input=fx.request["input"], dimensions=128)
    want = decode_fixture_embedding(fx)
    assert len(want) == 128
    assert len(resp.data[0].embedding) == 128
    assert f32(resp.data[0].embedding) == f32(want)
    assert resp.usage.prompt_tokens == fx.response["usage"]["prompt_tokens"]
    req = assert_faithful(replay, fx, sent.last, endpoint="embeddings")
    assert req["body"]["dimensions"] == 128
    assert req["body"]["encoding_format"] == "base64"


def test_embeddings_batch_input_forwarded(recorded_client, replay):
    """No recorded fixture answers a 2-string batch, so only the request side is checked here."""
    client, sent = recorded_client
    fx = load_fixture("embeddings__query-float")
    client.embeddings.create(model=fx.name, input=["Hello, world!", "Goodbye, world!"])
    req = assert_faithful(replay, fx, sent.last, endpoint="embeddings")
    assert req["body"]["input"] == ["Hello, world!", "Goodbye, world!"]


def test_embeddings_over_2048_inputs_400(client, replay):
    """OpenAI's own limit, kept for every provider: refused before any upstream call."""
    fx = load_fixture("embeddings__query-float")
    with pytest.raises(openai.BadRequestError) as ei:
        client.embeddings.create(model=fx.name, input=["Hello"] * 2049)
    e = ei.value
    assert e.status_code == 400
    assert e.param == "input"
    assert "at most 2048" in api_error_json(e.response)["message"]
    assert replay.requests() == [], "an over-long batch must not reach any upstream"


# --------------------------------------------------------------------------- 11. models and routes


def test_models_list(client, gateway):
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert sorted(ids) == sorted(gateway.model_names)
    assert len(ids) == len(set(ids))
    for m in models.data:
        assert m.object == "model"
        assert isinstance(m.owned_by, str)


def test_routes_without_v1_prefix(gateway):
    h = {"Authorization": f"Bearer {MASTER_KEY}"}
    fx = load_fixture("system__gpt-4o-system-prompt")
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        r = http.get("/models", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["object"] == "list"
        assert sorted(m["id"] for m in r.json()["data"]) == sorted(gateway.model_names)
        r = http.post("/chat/completions", headers=h, json={"model": fx.name, "messages": fx.request["messages"]})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == fx.response["choices"][0]["message"]["content"]
        for path in ("/health/liveliness", "/health/readiness"):
            assert http.get(path).status_code == 200, path


def test_models_require_auth(gateway):
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        r = http.get("/v1/models")
        assert r.status_code == 401
        api_error_json(r)


# --------------------------------------------------------------------------- 12. errors


def test_unknown_model_404(client, replay):
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    e = ei.value
    assert e.status_code == 404
    api_error_json(e.response)
    observe(e.message)
    assert replay.requests() == [], "unknown model must not reach any upstream"


def test_wrong_master_key_401(gateway, replay):
    with gateway.client(api_key="wrong") as bad:
        with pytest.raises(openai.AuthenticationError) as ei:
            bad.chat.completions.create(model="system__gpt-4o-system-prompt",
                                        messages=[{"role": "user", "content": "hi"}])
    assert ei.value.status_code == 401
    api_error_json(ei.value.response)
    observe(ei.value.message)
    assert replay.requests() == [], "unauthenticated request reached the upstream"


def test_missing_bearer_401(gateway, replay):
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        r = http.post("/v1/chat/completions", json={"model": "system__gpt-4o-system-prompt",
                                                     "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 401
    api_error_json(r)
    assert replay.requests() == []


def test_malformed_json_400(gateway, replay):
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        r = http.post("/v1/chat/completions", content=b"{not json",
                      headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"})
    assert r.status_code == 400, f"{r.status_code} {r.text[:300]}"
    api_error_json(r)
    assert replay.requests() == []


def test_body_too_large_413(gateway, replay):
    body = json.dumps({
        "model": "system__gpt-4o-system-prompt",
        "messages": [{"role": "user", "content": "x" * (MAX_BODY_BYTES + 1024)}],
    }).encode()
    assert len(body) > MAX_BODY_BYTES
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        r = http.post("/v1/chat/completions", content=body,
                      headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"})
    assert r.status_code == 413, f"{r.status_code} {r.text[:300]}"
    api_error_json(r)
    assert replay.requests() == []


def test_upstream_401(client, replay):
    fx = load_fixture("error-401__invalid-api-key")
    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    e = ei.value
    observe(e.message, e.response.text)
    assert e.status_code == 401, f"upstream 401 surfaced as {e.status_code}: {e.response.text[:300]}"
    assert isinstance(e, openai.AuthenticationError)
    err = api_error_json(e.response)
    assert UPSTREAM_KEY not in err["message"] and UPSTREAM_KEY not in str(e)
    req = replay.only_request(fx.name)
    assert_upstream_headers(req)


def test_upstream_404_model_not_found(client, replay):
    fx = load_fixture("error-404__model-not-found")
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    e = ei.value
    observe(e.message)
    assert e.status_code == 404
    err = api_error_json(e.response)
    want = fx.response["error"]
    assert e.code == err["code"] == "model_not_found"
    assert err["message"] == want["message"]
    assert err["type"] == want["type"]
    assert len(replay.requests(fx.name)) == 1


def test_upstream_404_embeddings(client, replay):
    fx = load_fixture("error-404__embeddings-model-not-found")
    with pytest.raises(openai.NotFoundError) as ei:
        client.embeddings.create(model=fx.name, input=fx.request["input"])
    err = api_error_json(ei.value.response)
    assert err["code"] == "model_not_found"
    assert err["message"] == fx.response["error"]["message"]
    req = replay.only_request(fx.name)
    assert req["path"].endswith("/v1/embeddings")


def test_upstream_400_unsupported_parameter(recorded_client, replay):
    client, sent = recorded_client
    fx = load_fixture("error-400__unsupported-parameter")
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model=fx.name, **request_kwargs(fx))
    e = ei.value
    observe(e.message)
    want = fx.response["error"]
    assert e.status_code == 400
    err = api_error_json(e.response)
    assert (e.param, e.code) == (want["param"], want["code"]) == ("stop", "unsupported_parameter")
    assert err["message"] == want["message"]
    assert err["type"] == want["type"]
    req = assert_faithful(replay, fx, sent.last)
    assert req["body"]["stop"] == ["4242"] and req["body"]["seed"] == 42


def test_upstream_429_rate_limit(client, replay):
    fx = load_fixture("error-429__rate-limit-exceeded")
    kwargs = request_kwargs(fx) if fx.request else {"messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(openai.RateLimitError) as ei:
        client.chat.completions.create(model=fx.name, **kwargs)
    e = ei.value
    observe(e.message)
    assert e.status_code == 429
    err = api_error_json(e.response)
    if isinstance(fx.response, dict) and isinstance(fx.response.get("error"), dict):
        want = fx.response["error"]
        assert err["message"] == want["message"]
        assert err.get("code") == want.get("code")
        assert err.get("type") == want.get("type")
    want_retry = fx.headers.get("retry-after")
    if want_retry is not None:
        assert e.response.headers.get("retry-after") == want_retry
    assert len(replay.requests(fx.name)) == 1, "max_retries=0: exactly one upstream attempt expected"


# --------------------------------------------------------------------------- config alias, no master key


def test_litellm_params_alias_without_master_key(replay, tmp_path):
    """A second gateway: `litellm_params` alias, no master_key (no auth required)."""
    fx = load_fixture("system__gpt-4o-system-prompt")
    config = {"model_list": [model_entry("alias-model", fx, replay, params_key="litellm_params")]}
    gw = start_gateway(config, tmp_path)
    try:
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key="anything", max_retries=0) as c:
            assert [m.id for m in c.models.list().data] == ["alias-model"]
            resp = c.chat.completions.create(model="alias-model", messages=fx.request["messages"])
            assert resp.choices[0].message.content == fx.response["choices"][0]["message"]["content"]
        req = replay.only_request(fx.name)
        assert_upstream_headers(req)
        assert "anything" not in json.dumps(req["headers"])
    finally:
        rc = gw.stop()
    assert rc == 0, f"second gateway exit code {rc} after SIGTERM\n{gw.log_text()[-2000:]}"
    log = gw.log_text()
    for s in SECRETS:
        assert s not in log, f"secret {s!r} in gateway log {gw.log}"


# --------------------------------------------------------------------------- 13. shutdown + secrets (keep last)


def test_zz_graceful_shutdown_and_no_secrets(gateway):
    rc = gateway.stop()
    log = gateway.log_text()
    assert rc == 0, f"gateway exit code after SIGTERM: {rc}\nlog tail:\n{log[-3000:]}"
    for s in SECRETS:
        assert s not in log, f"secret {s!r} in gateway log {gateway.log}: ...{log[max(0, log.find(s) - 200):log.find(s) + 60]}..."
    joined = "\n".join(OBSERVED)
    for s in SECRETS:
        assert s not in joined, f"secret {s!r} appeared in a response/error message seen by the client"
