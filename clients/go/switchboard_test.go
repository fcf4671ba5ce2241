package switchboard_test

// These tests talk to a live gateway configured by clients/testdata/gateway.yaml
// (clients/test.sh starts it and sets SWITCHBOARD_ADDR and SWITCHBOARD_API_KEY).
// Expected values are those of the recorded provider traffic the config names.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	switchboard "github.com/switchboard-gateway/switchboard/clients/go"
	switchboardv1 "github.com/switchboard-gateway/switchboard/clients/go/gen/switchboard/v1"
)

var addr, apiKey string

func TestMain(m *testing.M) {
	addr, apiKey = os.Getenv("SWITCHBOARD_ADDR"), os.Getenv("SWITCHBOARD_API_KEY")
	if addr == "" || apiKey == "" {
		fmt.Fprintln(os.Stderr, "SWITCHBOARD_ADDR and SWITCHBOARD_API_KEY must name a gateway running "+
			"clients/testdata/gateway.yaml; clients/test.sh starts one and runs these tests")
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func newClient(t *testing.T, opts ...switchboard.Option) *switchboard.Client {
	t.Helper()
	client, err := switchboard.NewClient(addr, append([]switchboard.Option{switchboard.WithPlaintext()}, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func capitalOf(country string) []*switchboardv1.Message {
	return []*switchboardv1.Message{
		switchboard.SystemMessage("You are a helpful assistant."),
		switchboard.UserMessage("What is the capital of " + country + "?"),
	}
}

// Complete returns the recorded OpenAI answer, typed, with usage and the
// deployment that served it.
func TestComplete(t *testing.T) {
	client := newClient(t, switchboard.WithAPIKey(apiKey))
	reply, err := client.Chat.Complete(ctx(t), &switchboardv1.ChatRequest{Model: "gpt-4o", Messages: capitalOf("France")})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if len(reply.GetChoices()) != 1 {
		t.Fatalf("choices: %v", reply.GetChoices())
	}
	choice := reply.GetChoices()[0]
	if got := choice.GetMessage().GetText(); got != "The capital of France is Paris." {
		t.Errorf("text = %q", got)
	}
	if choice.GetMessage().GetRole() != switchboardv1.Role_ROLE_ASSISTANT || choice.GetFinishReason() != switchboardv1.FinishReason_FINISH_REASON_STOP {
		t.Errorf("role %v, finish %v", choice.GetMessage().GetRole(), choice.GetFinishReason())
	}
	if reply.GetId() != "chatcmpl-BJjf61mLb9z5H45ClJzbx0UWKwjo1" || reply.GetModel() != "gpt-4o-2024-08-06" {
		t.Errorf("id %q, model %q", reply.GetId(), reply.GetModel())
	}
	u := reply.GetUsage()
	if u.GetPromptTokens() != 24 || u.GetCompletionTokens() != 8 || u.GetTotalTokens() != 32 {
		t.Errorf("usage = %v", u)
	}
	if by := reply.GetServedBy(); by.GetModelGroup() != "gpt-4o" || by.GetProvider() != "openai" {
		t.Errorf("served_by = %v", by)
	}
}

// Stream yields the recorded chunks one by one as the upstream sends them
// (200 ms apart), not all at once at the end.
func TestStreamArrivesIncrementally(t *testing.T) {
	client := newClient(t, switchboard.WithAPIKey(apiKey))
	req := &switchboardv1.ChatRequest{
		Model:         "gpt-4o-slow-stream",
		Messages:      capitalOf("Mexico"),
		StreamOptions: &switchboardv1.StreamOptions{IncludeUsage: true},
	}
	start := time.Now()
	var chunks []*switchboardv1.ChatChunk
	var arrivals []time.Duration
	var text strings.Builder
	for chunk, err := range client.Stream(ctx(t), req) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		arrivals = append(arrivals, time.Since(start))
		chunks = append(chunks, chunk)
		for _, c := range chunk.GetChoices() {
			text.WriteString(c.GetDelta().GetContent())
		}
	}

	if len(chunks) != 11 {
		t.Fatalf("%d chunks, want the recording's 11", len(chunks))
	}
	if text.String() != "The capital of Mexico is Mexico City." {
		t.Errorf("text = %q", text.String())
	}
	if chunks[0].GetServedBy().GetModelGroup() != "gpt-4o-slow-stream" {
		t.Errorf("first chunk served_by = %v", chunks[0].GetServedBy())
	}
	last := chunks[len(chunks)-1]
	if len(last.GetChoices()) != 0 || last.GetUsage().GetTotalTokens() != 22 {
		t.Errorf("last chunk = %v, want usage only (22 tokens)", last)
	}
	if got := chunks[len(chunks)-2].GetChoices()[0].GetFinishReason(); got != switchboardv1.FinishReason_FINISH_REASON_STOP {
		t.Errorf("finish reason = %v", got)
	}
	// 10 pauses of 200 ms: a buffering gateway would deliver everything at ~2 s.
	first, end := arrivals[0], arrivals[len(arrivals)-1]
	if spread := end - first; spread < 1500*time.Millisecond {
		t.Errorf("chunks arrived within %v of each other (first %v, last %v): buffered", spread, first, end)
	}
	if first > 1000*time.Millisecond {
		t.Errorf("first chunk after %v", first)
	}
}

// Leaving the range loop early cancels the call instead of draining the stream.
func TestStreamBreakCancels(t *testing.T) {
	client := newClient(t, switchboard.WithAPIKey(apiKey))
	start := time.Now()
	for _, err := range client.Stream(ctx(t), &switchboardv1.ChatRequest{Model: "gpt-4o-slow-stream", Messages: capitalOf("Mexico")}) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		break
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("break after the first chunk took %v; the rest of the stream was drained", took)
	}
}

// Embed returns one vector per input, as recorded (floats on the wire).
func TestEmbed(t *testing.T) {
	client := newClient(t, switchboard.WithAPIKey(apiKey))
	reply, err := client.Embeddings.Embed(ctx(t), &switchboardv1.EmbedRequest{
		Model: "text-embedding-3-small",
		Input: []string{"The food was delicious and the waiter...", "It was great"},
	})
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	want := [][]float32{{0.0023064255, -0.009327292, -0.0028842222}, {-0.0069352793, -0.005336422, 0.024047505}}
	if len(reply.GetEmbeddings()) != len(want) {
		t.Fatalf("embeddings = %v", reply.GetEmbeddings())
	}
	for i, e := range reply.GetEmbeddings() {
		if e.GetIndex() != uint32(i) || fmt.Sprint(e.GetValues()) != fmt.Sprint(want[i]) {
			t.Errorf("embedding %d = %d %v, want %v", i, e.GetIndex(), e.GetValues(), want[i])
		}
	}
	if reply.GetModel() != "text-embedding-3-small" || reply.GetUsage().GetPromptTokens() != 8 {
		t.Errorf("model %q, usage %v", reply.GetModel(), reply.GetUsage())
	}
}

// ListModels names every model of the config, in config order.
func TestListModels(t *testing.T) {
	client := newClient(t, switchboard.WithAPIKey(apiKey))
	reply, err := client.Chat.ListModels(ctx(t), &switchboardv1.ListModelsRequest{})
	if err != nil {
		t.Fatalf("ListModels: %v", err)
	}
	var got []string
	for _, m := range reply.GetModels() {
		got = append(got, fmt.Sprintf("%s/%s/%d", m.GetId(), m.GetOwnedBy(), m.GetDeploymentCount()))
	}
	want := "gpt-4o/openai/1 gpt-4o-slow-stream/openai/1 gpt-4o-rate-limited/openai/1 " +
		"text-embedding-3-small/openai/1 demo/mock/1 demo-embed/mock/1"
	if strings.Join(got, " ") != want {
		t.Errorf("models = %v\nwant     %v", got, want)
	}
}

// A missing or wrong key is UNAUTHENTICATED, on unary calls and streams alike.
func TestAuthFailures(t *testing.T) {
	req := &switchboardv1.ChatRequest{Model: "demo", Messages: []*switchboardv1.Message{switchboard.UserMessage("hi")}}
	for name, client := range map[string]*switchboard.Client{
		"no key":    newClient(t),
		"wrong key": newClient(t, switchboard.WithAPIKey("sk-not-the-key")),
	} {
		_, err := client.Chat.Complete(ctx(t), req)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: Complete error = %v, want UNAUTHENTICATED", name, err)
		}
		for _, err := range client.Stream(ctx(t), req) {
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s: Stream error = %v, want UNAUTHENTICATED", name, err)
			}
		}
	}
}

// The key is never sent over a plaintext connection that was not asked for
// with WithPlaintext: such a client is refused before anything is sent.
func TestKeyRefusesUnrequestedPlaintext(t *testing.T) {
	client, err := switchboard.NewClient(addr,
		switchboard.WithAPIKey(apiKey),
		switchboard.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err == nil {
		client.Close()
		t.Fatal("NewClient accepted an insecure transport for an API key without WithPlaintext")
	}
	if !strings.Contains(err.Error(), "transport level security") {
		t.Errorf("error = %v", err)
	}
}

// A provider's 429 arrives as RESOURCE_EXHAUSTED with RetryInfo (the
// provider's retry-after: 20) and an ErrorInfo naming the cause.
func TestUpstreamRateLimit(t *testing.T) {
	client := newClient(t, switchboard.WithAPIKey(apiKey))
	_, err := client.Chat.Complete(ctx(t), &switchboardv1.ChatRequest{Model: "gpt-4o-rate-limited", Messages: capitalOf("France")})
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		t.Fatalf("error = %v, want RESOURCE_EXHAUSTED", err)
	}
	if !strings.HasPrefix(st.Message(), "Rate limit reached for gpt-3.5-turbo") {
		t.Errorf("message = %q", st.Message())
	}
	var retry *errdetails.RetryInfo
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			retry = d
		case *errdetails.ErrorInfo:
			info = d
		case error:
			t.Errorf("undecodable detail: %v", d)
		}
	}
	if retry.GetRetryDelay().AsDuration() != 20*time.Second {
		t.Errorf("RetryInfo = %v, want 20s", retry)
	}
	if info.GetDomain() != "switchboard.v1" || info.GetReason() != "UPSTREAM_RATE_LIMITED" ||
		info.GetMetadata()["provider"] != "openai" || info.GetMetadata()["code"] != "rate_limit_exceeded" {
		t.Errorf("ErrorInfo = %v", info)
	}

	// The helpers read the same details.
	if delay, ok := switchboard.RetryDelay(err); !ok || delay != 20*time.Second {
		t.Errorf("RetryDelay = %v, %v", delay, ok)
	}
	if got, ok := switchboard.ErrorInfo(err); !ok || got.GetReason() != "UPSTREAM_RATE_LIMITED" {
		t.Errorf("ErrorInfo = %v, %v", got, ok)
	}
	if _, ok := switchboard.RetryDelay(status.Error(codes.NotFound, "no details")); ok {
		t.Error("RetryDelay found a delay on an error without RetryInfo")
	}
}
