// The part of createSwitchboardClient shared by the Node and browser entry
// points; each entry point supplies its own gRPC (HTTP/2) transport.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ChatService } from "./gen/switchboard/v1/chat_pb.js";
import { EmbeddingService } from "./gen/switchboard/v1/embedding_pb.js";

/** How calls reach the gateway. */
export type SwitchboardTransport =
  /** gRPC over HTTP/2 (h2c for `http://`, TLS for `https://`); Node only. */
  | "grpc"
  /** gRPC-Web over `fetch`; browsers and Node, through proxies that only speak HTTP/1.1. */
  | "grpc-web";

export interface SwitchboardClientOptions {
  /**
   * The gateway's URL, e.g. `http://127.0.0.1:4000` (cleartext, for a local
   * gateway) or `https://gateway.internal`. The scheme decides TLS.
   */
  baseUrl: string;
  /** Sent as `authorization: Bearer <apiKey>` on every call. */
  apiKey?: string;
  /** Default: "grpc" in Node, "grpc-web" in browsers. */
  transport?: SwitchboardTransport;
  /** Extra Connect interceptors (logging, deadlines, tracing headers, ...), run after the key is set. */
  interceptors?: Interceptor[];
}

/** The gateway's services, as Connect clients. */
export interface SwitchboardClient {
  /** Complete, StreamComplete (an async iterable of chunks) and ListModels. */
  chat: Client<typeof ChatService>;
  /** Embed. */
  embeddings: Client<typeof EmbeddingService>;
}

export type GrpcTransportFactory = (options: { baseUrl: string; interceptors: Interceptor[] }) => Transport;

export function createClientWith(
  options: SwitchboardClientOptions,
  defaultTransport: SwitchboardTransport,
  createGrpcTransport: GrpcTransportFactory,
): SwitchboardClient {
  const interceptors = [...(options.apiKey ? [bearer(options.apiKey)] : []), ...(options.interceptors ?? [])];
  const kind = options.transport ?? defaultTransport;
  let transport: Transport;
  switch (kind) {
    case "grpc":
      transport = createGrpcTransport({ baseUrl: options.baseUrl, interceptors });
      break;
    case "grpc-web":
      transport = createGrpcWebTransport({ baseUrl: options.baseUrl, interceptors });
      break;
    default:
      throw new TypeError(`unknown transport ${JSON.stringify(kind)}; use "grpc" or "grpc-web"`);
  }
  return {
    chat: createClient(ChatService, transport),
    embeddings: createClient(EmbeddingService, transport),
  };
}

function bearer(apiKey: string): Interceptor {
  const value = `Bearer ${apiKey}`;
  return (next) => (request) => {
    request.header.set("authorization", value);
    return next(request);
  };
}
