// Chat, stream and embed against a gateway running deploy/examples/quickstart.yaml's models.
import { createSwitchboardClient, userMessage } from "@switchboard-gateway/client";

const client = createSwitchboardClient({
  baseUrl: `http://${process.env.SWITCHBOARD_ADDR}`, // e.g. http://127.0.0.1:4000 (no TLS: local gateway)
  apiKey: process.env.SWITCHBOARD_API_KEY,
  transport: "grpc", // or "grpc-web"
});
const hello = { model: "demo", messages: [userMessage("hello")] };

const reply = await client.chat.complete(hello);
console.log(reply.choices[0].message?.content.value);

for await (const chunk of client.chat.streamComplete(hello)) {
  process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
}
console.log();

const { embeddings } = await client.embeddings.embed({ model: "demo-embed", input: ["hello"] });
console.log(`${embeddings[0].values.length} dimensions`);
