// Run with `node --conditions=browser`: the package resolves to its browser
// entry point, which speaks gRPC-Web by default and refuses plain gRPC.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createSwitchboardClient, userMessage } from "@switchboard-gateway/client";
import { apiKey, baseUrl } from "./env.js";

test("the browser condition selects the browser entry point", () => {
  assert.match(import.meta.resolve("@switchboard-gateway/client"), /\/dist\/index\.browser\.js$/);
});

test("the browser build defaults to gRPC-Web and reaches the gateway", async () => {
  const client = createSwitchboardClient({ baseUrl, apiKey });
  const reply = await client.chat.complete({ model: "demo", messages: [userMessage("hello")] });
  assert.deepEqual(reply.choices[0].message?.content, { case: "text", value: "Mock reply to: hello" });
});

test("the browser build refuses gRPC over HTTP/2 with a pointer to gRPC-Web", () => {
  assert.throws(() => createSwitchboardClient({ baseUrl, apiKey, transport: "grpc" }), /use transport "grpc-web"/);
});
