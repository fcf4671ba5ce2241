// Accessors for the google.rpc details the gateway attaches to errors
// (grpc-status-details-bin), decoded with the generated error_details schemas.
import { ConnectError } from "@connectrpc/connect";
import {
  type ErrorInfo,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "./googleapis/google/rpc/error_details_pb.js";

/**
 * How long, in milliseconds, the gateway asks the caller to wait before
 * retrying (`google.rpc.RetryInfo`), e.g. a provider's `retry-after` on a rate
 * limit (code `ResourceExhausted`). `undefined` when the error carries none.
 */
export function retryDelayMs(error: unknown): number | undefined {
  const delay = ConnectError.from(error).findDetails(RetryInfoSchema)[0]?.retryDelay;
  if (delay === undefined) {
    return undefined;
  }
  return Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6);
}

/**
 * The `google.rpc.ErrorInfo` on every gateway error: domain `switchboard.v1`,
 * an UPPER_SNAKE `reason` such as `UPSTREAM_RATE_LIMITED`, and `metadata` such
 * as the provider and its own error code. `undefined` for failures the gateway
 * did not produce (e.g. a connection error).
 */
export function errorInfo(error: unknown): ErrorInfo | undefined {
  return ConnectError.from(error).findDetails(ErrorInfoSchema)[0];
}
