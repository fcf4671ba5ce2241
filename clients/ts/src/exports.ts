// Everything both entry points export besides createSwitchboardClient.
export type { SwitchboardClient, SwitchboardClientOptions, SwitchboardTransport } from "./client.js";
export { errorInfo, retryDelayMs } from "./errors.js";
export { systemMessage, userMessage } from "./messages.js";
export { Code, ConnectError } from "@connectrpc/connect";
export * from "./gen/switchboard/v1/chat_pb.js";
export * from "./gen/switchboard/v1/embedding_pb.js";
export * from "./gen/switchboard/v1/types_pb.js";
export * from "./googleapis/google/rpc/error_details_pb.js";
