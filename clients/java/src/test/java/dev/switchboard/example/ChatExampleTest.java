package dev.switchboard.example;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ChatExampleTest {
  /** The README's example runs against the test gateway and prints the mock's answers. */
  @Test
  void printsChatStreamAndEmbedding() throws Exception {
    PrintStream stdout = System.out;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      ChatExample.main(new String[0]);
    } finally {
      System.setOut(stdout);
    }
    assertEquals(
        "Mock reply to: hello\nMock reply to: hello\n16 dimensions\n",
        captured.toString(StandardCharsets.UTF_8));
  }
}
