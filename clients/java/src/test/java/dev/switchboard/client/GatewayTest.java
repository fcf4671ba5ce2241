package dev.switchboard.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.Any;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import dev.switchboard.v1.ChatChunk;
import dev.switchboard.v1.ChatRequest;
import dev.switchboard.v1.ChatResponse;
import dev.switchboard.v1.ChatServiceGrpc;
import dev.switchboard.v1.ChatServiceGrpc.ChatServiceBlockingStub;
import dev.switchboard.v1.Choice;
import dev.switchboard.v1.EmbedRequest;
import dev.switchboard.v1.EmbedResponse;
import dev.switchboard.v1.EmbeddingServiceGrpc;
import dev.switchboard.v1.FinishReason;
import dev.switchboard.v1.ListModelsRequest;
import dev.switchboard.v1.Message;
import dev.switchboard.v1.Role;
import dev.switchboard.v1.StreamOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The client against a live gateway configured by clients/testdata/gateway.yaml (clients/test.sh
 * starts it and sets SWITCHBOARD_ADDR and SWITCHBOARD_API_KEY). Expected values are those of the
 * recorded provider traffic the config names.
 */
class GatewayTest {
  static String addr;
  static String apiKey;
  static ManagedChannel channel;

  @BeforeAll
  static void connect() {
    addr = System.getenv("SWITCHBOARD_ADDR");
    apiKey = System.getenv("SWITCHBOARD_API_KEY");
    if (addr == null || apiKey == null) {
      fail(
          "SWITCHBOARD_ADDR and SWITCHBOARD_API_KEY must name a gateway running "
              + "clients/testdata/gateway.yaml; clients/test.sh starts one and runs these tests");
    }
    channel = SwitchboardChannelBuilder.forTarget(addr).apiKey(apiKey).usePlaintext().build();
  }

  /** A stub whose calls fail after 20 s rather than hang (deadlines are fixed when set). */
  static ChatServiceBlockingStub chat() {
    return ChatServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
  }

  @AfterAll
  static void close() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  static ChatRequest capitalOf(String model, String country) {
    return ChatRequest.newBuilder()
        .setModel(model)
        .addMessages(
            Message.newBuilder().setRole(Role.ROLE_SYSTEM).setText("You are a helpful assistant."))
        .addMessages(
            Message.newBuilder()
                .setRole(Role.ROLE_USER)
                .setText("What is the capital of " + country + "?"))
        .build();
  }

  /** Complete returns the recorded OpenAI answer, typed, with usage and the deployment. */
  @Test
  void complete() {
    ChatResponse reply = chat().complete(capitalOf("gpt-4o", "France"));

    assertEquals(1, reply.getChoicesCount());
    Choice choice = reply.getChoices(0);
    assertEquals("The capital of France is Paris.", choice.getMessage().getText());
    assertEquals(Role.ROLE_ASSISTANT, choice.getMessage().getRole());
    assertEquals(FinishReason.FINISH_REASON_STOP, choice.getFinishReason());
    assertEquals("chatcmpl-BJjf61mLb9z5H45ClJzbx0UWKwjo1", reply.getId());
    assertEquals("gpt-4o-2024-08-06", reply.getModel());
    assertEquals(
        List.of(24, 8, 32),
        List.of(
            reply.getUsage().getPromptTokens(),
            reply.getUsage().getCompletionTokens(),
            reply.getUsage().getTotalTokens()));
    assertEquals("gpt-4o", reply.getServedBy().getModelGroup());
    assertEquals("openai", reply.getServedBy().getProvider());
  }

  /** StreamComplete yields the recorded chunks as the upstream sends them (200 ms apart). */
  @Test
  void streamArrivesIncrementally() {
    ChatRequest request =
        capitalOf("gpt-4o-slow-stream", "Mexico").toBuilder()
            .setStreamOptions(StreamOptions.newBuilder().setIncludeUsage(true))
            .build();
    long start = System.nanoTime();
    List<ChatChunk> chunks = new ArrayList<>();
    List<Duration> arrivals = new ArrayList<>();
    Iterator<ChatChunk> stream = chat().streamComplete(request);
    while (stream.hasNext()) {
      chunks.add(stream.next());
      arrivals.add(Duration.ofNanos(System.nanoTime() - start));
    }

    assertEquals(11, chunks.size(), "the recording's 11 chunks");
    String text =
        chunks.stream()
            .flatMap(c -> c.getChoicesList().stream())
            .map(c -> c.getDelta().getContent())
            .collect(Collectors.joining());
    assertEquals("The capital of Mexico is Mexico City.", text);
    assertEquals("gpt-4o-slow-stream", chunks.get(0).getServedBy().getModelGroup());
    ChatChunk last = chunks.get(chunks.size() - 1);
    assertEquals(0, last.getChoicesCount());
    assertEquals(22, last.getUsage().getTotalTokens());
    assertEquals(
        FinishReason.FINISH_REASON_STOP, chunks.get(chunks.size() - 2).getChoices(0).getFinishReason());
    // 10 pauses of 200 ms: a buffering gateway would deliver everything at ~2 s.
    Duration first = arrivals.get(0);
    Duration spread = arrivals.get(arrivals.size() - 1).minus(first);
    assertTrue(
        spread.compareTo(Duration.ofMillis(1500)) >= 0,
        "chunks arrived within " + spread + " of each other: buffered");
    assertTrue(first.compareTo(Duration.ofSeconds(1)) < 0, "first chunk after " + first);
  }

  /** Embed returns one vector per input, as recorded (floats on the wire). */
  @Test
  void embed() {
    EmbedResponse reply =
        EmbeddingServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(20, TimeUnit.SECONDS)
            .embed(
                EmbedRequest.newBuilder()
                    .setModel("text-embedding-3-small")
                    .addInput("The food was delicious and the waiter...")
                    .addInput("It was great")
                    .build());

    assertEquals(2, reply.getEmbeddingsCount());
    assertEquals(
        List.of(0.0023064255f, -0.009327292f, -0.0028842222f),
        reply.getEmbeddings(0).getValuesList());
    assertEquals(
        List.of(-0.0069352793f, -0.005336422f, 0.024047505f),
        reply.getEmbeddings(1).getValuesList());
    assertEquals(1, reply.getEmbeddings(1).getIndex());
    assertEquals("text-embedding-3-small", reply.getModel());
    assertEquals(8, reply.getUsage().getPromptTokens());
  }

  /** ListModels names every model of the config, in config order. */
  @Test
  void listModels() {
    List<String> models =
        chat().listModels(ListModelsRequest.getDefaultInstance()).getModelsList().stream()
            .map(m -> m.getId() + "/" + m.getOwnedBy() + "/" + m.getDeploymentCount())
            .collect(Collectors.toList());
    assertEquals(
        List.of(
            "gpt-4o/openai/1",
            "gpt-4o-slow-stream/openai/1",
            "gpt-4o-rate-limited/openai/1",
            "text-embedding-3-small/openai/1",
            "demo/mock/1",
            "demo-embed/mock/1"),
        models);
  }

  /** A missing or a wrong key is UNAUTHENTICATED. */
  @Test
  void authFailures() throws InterruptedException {
    ChatRequest hi =
        ChatRequest.newBuilder()
            .setModel("demo")
            .addMessages(Message.newBuilder().setRole(Role.ROLE_USER).setText("hi"))
            .build();
    for (SwitchboardChannelBuilder builder :
        List.of(
            SwitchboardChannelBuilder.forTarget(addr).usePlaintext(),
            SwitchboardChannelBuilder.forTarget(addr).apiKey("sk-not-the-key").usePlaintext())) {
      ManagedChannel other = builder.build();
      try {
        StatusRuntimeException e =
            assertThrows(
                StatusRuntimeException.class,
                () -> ChatServiceGrpc.newBlockingStub(other).complete(hi));
        assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
      } finally {
        other.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /** The key is withheld from a plaintext connection unless plaintext was asked for. */
  @Test
  void keyNotSentOverUnrequestedPlaintext() throws InterruptedException {
    ManagedChannel plain = SwitchboardChannelBuilder.forTarget(addr).usePlaintext().build();
    try {
      StatusRuntimeException e =
          assertThrows(
              StatusRuntimeException.class,
              () ->
                  ChatServiceGrpc.newBlockingStub(plain)
                      .withCallCredentials(BearerTokenCredentials.of(apiKey))
                      .listModels(ListModelsRequest.getDefaultInstance()));
      assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
      assertTrue(e.getStatus().getDescription().startsWith("refusing to send"), e.toString());
    } finally {
      plain.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /**
   * A provider's 429 arrives as RESOURCE_EXHAUSTED with RetryInfo (its retry-after: 20) and an
   * ErrorInfo naming the cause.
   */
  @Test
  void upstreamRateLimit() throws Exception {
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> chat().complete(capitalOf("gpt-4o-rate-limited", "France")));
    assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().startsWith("Rate limit reached for gpt-3.5-turbo"),
        e.getStatus().getDescription());

    com.google.rpc.Status status = StatusProto.fromThrowable(e);
    assertNotNull(status, "grpc-status-details-bin");
    RetryInfo retry = null;
    ErrorInfo info = null;
    for (Any detail : status.getDetailsList()) {
      if (detail.is(RetryInfo.class)) {
        retry = detail.unpack(RetryInfo.class);
      } else if (detail.is(ErrorInfo.class)) {
        info = detail.unpack(ErrorInfo.class);
      }
    }
    assertNotNull(retry, "RetryInfo in " + status);
    assertEquals(20, retry.getRetryDelay().getSeconds());
    assertEquals(0, retry.getRetryDelay().getNanos());
    assertNotNull(info, "ErrorInfo in " + status);
    assertEquals("switchboard.v1", info.getDomain());
    assertEquals("UPSTREAM_RATE_LIMITED", info.getReason());
    assertEquals("openai", info.getMetadataOrThrow("provider"));
    assertEquals("rate_limit_exceeded", info.getMetadataOrThrow("code"));

    // The helpers read the same details.
    assertEquals(Duration.ofSeconds(20), SwitchboardErrors.retryDelay(e).orElseThrow());
    assertEquals(
        "UPSTREAM_RATE_LIMITED", SwitchboardErrors.errorInfo(e).orElseThrow().getReason());
    assertFalse(SwitchboardErrors.retryDelay(Status.NOT_FOUND.asRuntimeException()).isPresent());
  }
}
