package dev.switchboard.client;

import io.grpc.CallCredentials;
import io.grpc.Metadata;
import io.grpc.SecurityLevel;
import io.grpc.Status;
import java.util.Objects;
import java.util.concurrent.Executor;

/**
 * Sends a Switchboard API key (a virtual key or the master key) as {@code authorization: Bearer
 * <key>} on every call.
 *
 * <p>The key is withheld from connections without TLS, failing the call with {@code
 * UNAUTHENTICATED}, unless the credentials were made with {@link #allowingPlaintext}: a channel
 * that silently fell back to plaintext must not leak the key.
 */
public final class BearerTokenCredentials extends CallCredentials {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final String headerValue;
  private final boolean allowPlaintext;

  private BearerTokenCredentials(String apiKey, boolean allowPlaintext) {
    this.headerValue = "Bearer " + Objects.requireNonNull(apiKey, "apiKey");
    this.allowPlaintext = allowPlaintext;
  }

  /** Credentials that send {@code apiKey} over TLS connections only. */
  public static BearerTokenCredentials of(String apiKey) {
    return new BearerTokenCredentials(apiKey, false);
  }

  /** Credentials that also send {@code apiKey} over plaintext (h2c), for a local gateway. */
  public static BearerTokenCredentials allowingPlaintext(String apiKey) {
    return new BearerTokenCredentials(apiKey, true);
  }

  @Override
  public void applyRequestMetadata(
      RequestInfo requestInfo, Executor appExecutor, MetadataApplier applier) {
    if (!allowPlaintext && requestInfo.getSecurityLevel() != SecurityLevel.PRIVACY_AND_INTEGRITY) {
      applier.fail(
          Status.UNAUTHENTICATED.withDescription(
              "refusing to send the Switchboard API key over a connection without TLS "
                  + "(use SwitchboardChannelBuilder.usePlaintext() for a local gateway)"));
      return;
    }
    Metadata headers = new Metadata();
    headers.put(AUTHORIZATION, headerValue);
    applier.apply(headers);
  }

  @Override
  public String toString() {
    return "BearerTokenCredentials[key redacted, allowPlaintext=" + allowPlaintext + "]";
  }
}
