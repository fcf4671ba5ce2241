#!/usr/bin/env python3
"""Scaffolds a case from a fixture whose request the client sent unchanged.

    conformance/tools/new-case.py PROVIDER/FEATURE/NAME FIXTURE [--deployment-model M]
        [--api-base '{{replay}}/v1'] [--path /v1/chat/completions] [--description TEXT]

client-request.json and upstream-request.json start as the fixture's recorded request, and
the expected client answer as the fixture's recorded response (a stream's data lines become
client-stream.jsonl). Edit them where the gateway is meant to differ; never copy the
gateway's own output into an expectation.
"""
import argparse, json, os, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
p = argparse.ArgumentParser()
p.add_argument("case")
p.add_argument("fixture")
p.add_argument("--provider-prefix", default=None, help="model prefix in the deployment (default: the row)")
p.add_argument("--api-base", default="{{replay}}/v1")
p.add_argument("--path", default=None)
p.add_argument("--description", default="TODO")
p.add_argument("--status", type=int, default=None)
a = p.parse_args()

provider, feature, name = a.case.split("/")
stem = os.path.join(root, "fixtures", "upstream", a.fixture)
req = json.load(open(stem + ".request.json"))
meta = json.load(open(stem + ".meta.json"))
case_dir = os.path.join(root, "cases", a.case)
os.makedirs(case_dir, exist_ok=True)
embeddings = "input" in req
path = a.path or ("/v1/embeddings" if embeddings else "/v1/chat/completions")

def dump(name, value):
    with open(os.path.join(case_dir, name), "w") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")

client = dict(req)
client.pop("model", None)
dump("client-request.json", client)
dump("upstream-request.json", req)
status = meta.get("status", 200)
if os.path.exists(stem + ".response.json"):
    body = json.load(open(stem + ".response.json"))
    dump("client-error.json" if status >= 400 else "client-response.json", body)
elif os.path.exists(stem + ".response.sse"):
    lines = []
    for event in open(stem + ".response.sse").read().replace("\r\n", "\n").split("\n\n"):
        for line in event.split("\n"):
            if line.startswith("data: ") and line[6:] != "[DONE]":
                lines.append(json.dumps(json.loads(line[6:]), ensure_ascii=False))
    open(os.path.join(case_dir, "client-stream.jsonl"), "w").write("\n".join(lines) + "\n")
elif os.path.exists(stem + ".response.chunks.jsonl"):
    lines = [json.dumps(json.loads(l), ensure_ascii=False) for l in open(stem + ".response.chunks.jsonl") if l.strip()]
    open(os.path.join(case_dir, "client-stream.jsonl"), "w").write("\n".join(lines) + "\n")

prefix = a.provider_prefix or provider
yaml = f"""description: {a.description}
deployment:
  model: {prefix}/{req.get('model')}
  api_base: "{a.api_base}"
upstream:
  request:
    method: POST
    path: {path}
    headers:
      authorization: Bearer sk-conformance-upstream
      content-type: application/json
  response: {a.fixture}
"""
if status >= 400:
    yaml += f"client:\n  status: {status}\n  grpc_code: TODO\n"
open(os.path.join(case_dir, "case.yaml"), "w").write(yaml)
print(case_dir)
