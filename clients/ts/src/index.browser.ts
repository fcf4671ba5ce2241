/**
 * Switchboard's TypeScript client for browsers: gRPC-Web over `fetch`. The
 * same API as the Node entry point, without Node's http2.
 *
 * @module
 */
import { createClientWith, type SwitchboardClient, type SwitchboardClientOptions } from "./client.js";

export * from "./exports.js";

/** A client for the gateway at `options.baseUrl`, over gRPC-Web. */
export function createSwitchboardClient(options: SwitchboardClientOptions): SwitchboardClient {
  return createClientWith(options, "grpc-web", () => {
    throw new TypeError(
      'transport "grpc" needs HTTP/2 trailers, which browsers do not expose; use transport "grpc-web"',
    );
  });
}
