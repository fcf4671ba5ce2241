package dev.switchboard.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.Optional;

/**
 * Reads the {@code google.rpc} details the gateway attaches to a failed call's status
 * ({@code grpc-status-details-bin}).
 *
 * <pre>{@code
 * try {
 *   chat.complete(request);
 * } catch (StatusRuntimeException e) {
 *   Optional<Duration> wait = SwitchboardErrors.retryDelay(e); // RESOURCE_EXHAUSTED after a 429
 * }
 * }</pre>
 */
public final class SwitchboardErrors {
  private SwitchboardErrors() {}

  /**
   * How long the gateway asks the caller to wait before retrying ({@code google.rpc.RetryInfo}),
   * e.g. a provider's {@code retry-after} on a rate limit.
   */
  public static Optional<Duration> retryDelay(Throwable error) {
    return detail(error, RetryInfo.class)
        .filter(RetryInfo::hasRetryDelay)
        .map(
            info ->
                Duration.ofSeconds(
                    info.getRetryDelay().getSeconds(), info.getRetryDelay().getNanos()));
  }

  /**
   * The {@code google.rpc.ErrorInfo} on every gateway error: domain {@code switchboard.v1}, an
   * UPPER_SNAKE reason such as {@code UPSTREAM_RATE_LIMITED}, and metadata such as the provider
   * and its own error code. Empty for failures the gateway did not produce (e.g. transport).
   */
  public static Optional<ErrorInfo> errorInfo(Throwable error) {
    return detail(error, ErrorInfo.class);
  }

  /** The first detail of {@code type} on the error's status, if any. */
  public static <T extends Message> Optional<T> detail(Throwable error, Class<T> type) {
    com.google.rpc.Status status = StatusProto.fromThrowable(error);
    if (status == null) {
      return Optional.empty();
    }
    for (Any any : status.getDetailsList()) {
      if (any.is(type)) {
        try {
          return Optional.of(any.unpack(type));
        } catch (InvalidProtocolBufferException e) {
          return Optional.empty();
        }
      }
    }
    return Optional.empty();
  }
}
