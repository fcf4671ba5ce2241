package switchboard_test

import (
	"context"
	"fmt"
	"log"
	"os"

	switchboard "github.com/switchboard-gateway/switchboard/clients/go"
	switchboardv1 "github.com/switchboard-gateway/switchboard/clients/go/gen/switchboard/v1"
)

// Chat, stream and embed against a local gateway running the offline mock
// models of deploy/examples/quickstart.yaml.
func Example() {
	client, err := switchboard.NewClient(os.Getenv("SWITCHBOARD_ADDR"), // e.g. "127.0.0.1:4000"
		switchboard.WithAPIKey(os.Getenv("SWITCHBOARD_API_KEY")),
		switchboard.WithPlaintext()) // local gateway without TLS
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	hello := &switchboardv1.ChatRequest{Model: "demo", Messages: []*switchboardv1.Message{switchboard.UserMessage("hello")}}

	reply, err := client.Chat.Complete(ctx, hello)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.GetChoices()[0].GetMessage().GetText())

	for chunk, err := range client.Stream(ctx, hello) {
		if err != nil {
			log.Fatal(err)
		}
		for _, choice := range chunk.GetChoices() {
			fmt.Print(choice.GetDelta().GetContent())
		}
	}
	fmt.Println()

	vectors, err := client.Embeddings.Embed(ctx, &switchboardv1.EmbedRequest{Model: "demo-embed", Input: []string{"hello"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vectors.GetEmbeddings()[0].GetValues()), "dimensions")
	// Output:
	// Mock reply to: hello
	// Mock reply to: hello
	// 16 dimensions
}

// Back off as long as the gateway says after a provider's rate limit.
func ExampleRetryDelay() {
	client, err := switchboard.NewClient(os.Getenv("SWITCHBOARD_ADDR"),
		switchboard.WithAPIKey(os.Getenv("SWITCHBOARD_API_KEY")), switchboard.WithPlaintext())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	_, err = client.Chat.Complete(context.Background(), &switchboardv1.ChatRequest{
		Model:    "gpt-4o-rate-limited",
		Messages: []*switchboardv1.Message{switchboard.UserMessage("hello")},
	})
	if delay, ok := switchboard.RetryDelay(err); ok {
		info, _ := switchboard.ErrorInfo(err)
		fmt.Printf("%s from %s: retry in %v\n", info.GetReason(), info.GetMetadata()["provider"], delay)
	}
	// Output: UPSTREAM_RATE_LIMITED from openai: retry in 20s
}
