// The client against a live gateway, once per transport. Expected values are
// those of the recorded provider traffic clients/testdata/gateway.yaml names.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, test } from "node:test";
import {
  type ChatChunk,
  Code,
  ConnectError,
  ErrorInfoSchema,
  FinishReason,
  RetryInfoSchema,
  Role,
  createSwitchboardClient,
  errorInfo,
  retryDelayMs,
  systemMessage,
  userMessage,
} from "@switchboard-gateway/client";
import { apiKey, baseUrl } from "./env.js";

const capitalOf = (model: string, country: string) => ({
  model,
  messages: [systemMessage("You are a helpful assistant."), userMessage(`What is the capital of ${country}?`)],
});

for (const transport of ["grpc", "grpc-web"] as const) {
  describe(`over ${transport}`, () => {
    const client = createSwitchboardClient({ baseUrl, apiKey, transport });

    test("Complete returns the recorded answer, typed, with usage and the deployment", async () => {
      const reply = await client.chat.complete(capitalOf("gpt-4o", "France"));
      assert.equal(reply.choices.length, 1);
      const choice = reply.choices[0];
      assert.deepEqual(choice.message?.content, { case: "text", value: "The capital of France is Paris." });
      assert.equal(choice.message?.role, Role.ASSISTANT);
      assert.equal(choice.finishReason, FinishReason.STOP);
      assert.equal(reply.id, "chatcmpl-BJjf61mLb9z5H45ClJzbx0UWKwjo1");
      assert.equal(reply.model, "gpt-4o-2024-08-06");
      const { promptTokens, completionTokens, totalTokens } = reply.usage ?? {};
      assert.deepEqual([promptTokens, completionTokens, totalTokens], [24, 8, 32]);
      assert.equal(reply.servedBy?.modelGroup, "gpt-4o");
      assert.equal(reply.servedBy?.provider, "openai");
    });

    test("StreamComplete yields the recorded chunks as the upstream sends them (200 ms apart)", async () => {
      const start = performance.now();
      const chunks: ChatChunk[] = [];
      const arrivals: number[] = [];
      for await (const chunk of client.chat.streamComplete({
        ...capitalOf("gpt-4o-slow-stream", "Mexico"),
        streamOptions: { includeUsage: true },
      })) {
        arrivals.push(performance.now() - start);
        chunks.push(chunk);
      }
      assert.equal(chunks.length, 11, "the recording's 11 chunks");
      const text = chunks.flatMap((c) => c.choices.map((choice) => choice.delta?.content ?? "")).join("");
      assert.equal(text, "The capital of Mexico is Mexico City.");
      assert.equal(chunks[0].servedBy?.modelGroup, "gpt-4o-slow-stream");
      const last = chunks[chunks.length - 1];
      assert.equal(last.choices.length, 0);
      assert.equal(last.usage?.totalTokens, 22);
      assert.equal(chunks[chunks.length - 2].choices[0].finishReason, FinishReason.STOP);
      // 10 pauses of 200 ms: a buffering gateway (or transport) would deliver everything at ~2 s.
      const spread = arrivals[arrivals.length - 1] - arrivals[0];
      assert.ok(spread >= 1500, `chunks arrived within ${spread.toFixed(0)} ms of each other: buffered`);
      assert.ok(arrivals[0] < 1000, `first chunk after ${arrivals[0].toFixed(0)} ms`);
    });

    test("Embed returns one vector per input, as recorded", async () => {
      const reply = await client.embeddings.embed({
        model: "text-embedding-3-small",
        input: ["The food was delicious and the waiter...", "It was great"],
      });
      const f32 = (values: number[]) => Array.from(Float32Array.from(values));
      assert.deepEqual(
        reply.embeddings.map((e) => [e.index, e.values]),
        [
          [0, f32([0.0023064255, -0.009327292, -0.0028842222])],
          [1, f32([-0.0069352793, -0.005336422, 0.024047505])],
        ],
      );
      assert.equal(reply.model, "text-embedding-3-small");
      assert.equal(reply.usage?.promptTokens, 8);
    });

    test("ListModels names every model of the config, in config order", async () => {
      const { models } = await client.chat.listModels({});
      assert.deepEqual(
        models.map((m) => `${m.id}/${m.ownedBy}/${m.deploymentCount}`),
        [
          "gpt-4o/openai/1",
          "gpt-4o-slow-stream/openai/1",
          "gpt-4o-rate-limited/openai/1",
          "text-embedding-3-small/openai/1",
          "demo/mock/1",
          "demo-embed/mock/1",
        ],
      );
    });

    test("a missing or wrong key is Unauthenticated, on unary calls and streams", async () => {
      const hi = { model: "demo", messages: [userMessage("hi")] };
      for (const key of [undefined, "sk-not-the-key"]) {
        const other = createSwitchboardClient({ baseUrl, apiKey: key, transport });
        await assert.rejects(other.chat.complete(hi), (e) => ConnectError.from(e).code === Code.Unauthenticated);
        await assert.rejects(
          (async () => {
            for await (const _ of other.chat.streamComplete(hi)) {
              assert.fail("a chunk without a valid key");
            }
          })(),
          (e) => ConnectError.from(e).code === Code.Unauthenticated,
        );
      }
    });

    test("a provider's 429 is ResourceExhausted with RetryInfo (retry-after: 20) and ErrorInfo", async () => {
      const error = await client.chat.complete(capitalOf("gpt-4o-rate-limited", "France")).then(
        () => assert.fail("rate limited call succeeded"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(error.code, Code.ResourceExhausted);
      assert.match(error.rawMessage, /^Rate limit reached for gpt-3\.5-turbo/);
      const [retry] = error.findDetails(RetryInfoSchema);
      assert.equal(retry?.retryDelay?.seconds, 20n);
      assert.equal(retry?.retryDelay?.nanos, 0);
      const [info] = error.findDetails(ErrorInfoSchema);
      assert.equal(info?.domain, "switchboard.v1");
      assert.equal(info?.reason, "UPSTREAM_RATE_LIMITED");
      assert.equal(info?.metadata.provider, "openai");
      assert.equal(info?.metadata.code, "rate_limit_exceeded");

      // The helpers read the same details.
      assert.equal(retryDelayMs(error), 20_000);
      assert.equal(errorInfo(error)?.reason, "UPSTREAM_RATE_LIMITED");
      assert.equal(retryDelayMs(new ConnectError("no details", Code.NotFound)), undefined);
    });
  });
}

test("the README example prints the mock's chat, stream and embedding", async () => {
  const example = fileURLToPath(new URL("../examples/chat.js", import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [example]);
  assert.equal(stdout, "Mock reply to: hello\nMock reply to: hello\n16 dimensions\n");
});
