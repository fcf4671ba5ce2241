/**
 * Switchboard's TypeScript client for Node: gRPC over HTTP/2 (default) or
 * gRPC-Web. Bundlers targeting browsers pick index.browser.ts instead (the
 * package's "browser" export condition), which leaves Node's http2 out.
 *
 * @module
 */
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createClientWith, type SwitchboardClient, type SwitchboardClientOptions } from "./client.js";

export * from "./exports.js";

/**
 * A client for the gateway at `options.baseUrl`.
 *
 * ```ts
 * const client = createSwitchboardClient({ baseUrl: "http://127.0.0.1:4000", apiKey, transport: "grpc" });
 * const reply = await client.chat.complete({ model: "demo", messages: [userMessage("hello")] });
 * ```
 */
export function createSwitchboardClient(options: SwitchboardClientOptions): SwitchboardClient {
  return createClientWith(options, "grpc", createGrpcTransport);
}
