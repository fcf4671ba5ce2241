package dev.switchboard.example;

import dev.switchboard.client.SwitchboardChannelBuilder;
import dev.switchboard.v1.ChatRequest;
import dev.switchboard.v1.ChatServiceGrpc;
import dev.switchboard.v1.EmbedRequest;
import dev.switchboard.v1.EmbeddingServiceGrpc;
import dev.switchboard.v1.Message;
import dev.switchboard.v1.Role;
import io.grpc.ManagedChannel;
import java.util.concurrent.TimeUnit;

/** Chat, stream and embed against a gateway running deploy/examples/quickstart.yaml's models. */
public final class ChatExample {
  public static void main(String[] args) throws InterruptedException {
    ManagedChannel channel =
        SwitchboardChannelBuilder.forTarget(System.getenv("SWITCHBOARD_ADDR")) // "127.0.0.1:4000"
            .apiKey(System.getenv("SWITCHBOARD_API_KEY"))
            .usePlaintext() // a local gateway without TLS
            .build();
    try {
      var chat = ChatServiceGrpc.newBlockingStub(channel);
      var hello =
          ChatRequest.newBuilder()
              .setModel("demo")
              .addMessages(Message.newBuilder().setRole(Role.ROLE_USER).setText("hello"))
              .build();
      System.out.println(chat.complete(hello).getChoices(0).getMessage().getText());

      chat.streamComplete(hello)
          .forEachRemaining(
              chunk -> chunk.getChoicesList().forEach(c -> System.out.print(c.getDelta().getContent())));
      System.out.println();

      var vectors =
          EmbeddingServiceGrpc.newBlockingStub(channel)
              .embed(EmbedRequest.newBuilder().setModel("demo-embed").addInput("hello").build());
      System.out.println(vectors.getEmbeddings(0).getValuesCount() + " dimensions");
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
