package dev.switchboard.client;

import io.grpc.ChannelCredentials;
import io.grpc.CompositeChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.TlsChannelCredentials;
import java.util.Objects;

/**
 * Builds a {@link ManagedChannel} to a Switchboard gateway whose calls carry the API key.
 *
 * <pre>{@code
 * ManagedChannel channel = SwitchboardChannelBuilder.forTarget("gateway.internal:443")
 *     .apiKey(System.getenv("SWITCHBOARD_API_KEY"))
 *     .build();
 * ChatServiceGrpc.ChatServiceBlockingStub chat = ChatServiceGrpc.newBlockingStub(channel);
 * }</pre>
 *
 * <p>TLS with the JVM's trust store is the default; {@link #usePlaintext()} speaks cleartext
 * HTTP/2 (h2c) to a local gateway. The transport is whichever grpc-java finds on the class path
 * (grpc-netty-shaded, a runtime dependency of this artifact).
 */
public final class SwitchboardChannelBuilder {
  private final String target;
  private String apiKey;
  private boolean plaintext;
  private ChannelCredentials tls = TlsChannelCredentials.create();

  private SwitchboardChannelBuilder(String target) {
    this.target = Objects.requireNonNull(target, "target");
  }

  /** A gateway at {@code target}: {@code host:port} or any gRPC target URI. */
  public static SwitchboardChannelBuilder forTarget(String target) {
    return new SwitchboardChannelBuilder(target);
  }

  /** Sends {@code apiKey} as a bearer token on every call. */
  public SwitchboardChannelBuilder apiKey(String apiKey) {
    this.apiKey = Objects.requireNonNull(apiKey, "apiKey");
    return this;
  }

  /**
   * Speaks cleartext HTTP/2 instead of TLS, for a gateway on localhost or a sidecar. The API key
   * then travels unencrypted, which is why it has to be asked for.
   */
  public SwitchboardChannelBuilder usePlaintext() {
    this.plaintext = true;
    return this;
  }

  /** TLS settings other than the default (e.g. a private CA, client certificates). */
  public SwitchboardChannelBuilder tlsCredentials(ChannelCredentials tls) {
    this.tls = Objects.requireNonNull(tls, "tls");
    return this;
  }

  /** The underlying grpc-java builder, for interceptors, keepalive, executors and the like. */
  public ManagedChannelBuilder<?> toManagedChannelBuilder() {
    ChannelCredentials transport = plaintext ? InsecureChannelCredentials.create() : tls;
    if (apiKey == null) {
      return Grpc.newChannelBuilder(target, transport);
    }
    BearerTokenCredentials bearer =
        plaintext
            ? BearerTokenCredentials.allowingPlaintext(apiKey)
            : BearerTokenCredentials.of(apiKey);
    return Grpc.newChannelBuilder(target, CompositeChannelCredentials.create(transport, bearer));
  }

  /** The channel. Like every {@link ManagedChannel}, it connects lazily; shut it down when done. */
  public ManagedChannel build() {
    return toManagedChannelBuilder().build();
  }
}
