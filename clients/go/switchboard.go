// Package switchboard is the Go client for the Switchboard LLM gateway.
//
// The generated stubs live in package switchboardv1 (gen/switchboard/v1);
// this package adds what every caller otherwise writes by hand: a connection
// that sends the API key as a bearer token on every call ([NewClient]), an
// iterator over a streamed chat answer ([Client.Stream]), and accessors for
// the google.rpc details the gateway attaches to errors ([RetryDelay],
// [ErrorInfo]).
package switchboard

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"iter"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	switchboardv1 "github.com/switchboard-gateway/switchboard/clients/go/gen/switchboard/v1"
)

// Client is a connection to one gateway with the generated service clients
// bound to it. It is safe for concurrent use; make one and share it.
type Client struct {
	conn *grpc.ClientConn

	// Chat runs chat completions (Complete, StreamComplete) and lists models.
	Chat switchboardv1.ChatServiceClient
	// Embeddings embeds texts.
	Embeddings switchboardv1.EmbeddingServiceClient
}

// Option configures [NewClient].
type Option func(*options)

type options struct {
	apiKey    string
	plaintext bool
	tls       *tls.Config
	dial      []grpc.DialOption
}

// WithAPIKey sends key on every call as `authorization: Bearer <key>` (a
// virtual key or the gateway's master key).
func WithAPIKey(key string) Option {
	return func(o *options) { o.apiKey = key }
}

// WithPlaintext speaks cleartext HTTP/2 (h2c) instead of TLS, for a gateway
// on localhost or a sidecar. The API key then travels unencrypted, which is
// why this has to be asked for: without it the key is only ever sent over TLS.
func WithPlaintext() Option {
	return func(o *options) { o.plaintext = true }
}

// WithTLSConfig sets the TLS configuration (default: the system's roots).
func WithTLSConfig(config *tls.Config) Option {
	return func(o *options) { o.tls = config }
}

// WithDialOptions passes extra options to grpc.NewClient (interceptors,
// keepalive, a custom resolver, ...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dial = append(o.dial, opts...) }
}

// NewClient creates a client for target: "host:port" or any gRPC target
// ("dns:///gateway.internal:443"). Like grpc.NewClient it does not connect
// until the first call, so a gateway that is down surfaces as an UNAVAILABLE
// error on that call.
func NewClient(target string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dial := make([]grpc.DialOption, 0, len(o.dial)+2)
	if o.plaintext {
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(o.tls)))
	}
	if o.apiKey != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearerToken{key: o.apiKey, requireTLS: !o.plaintext}))
	}
	conn, err := grpc.NewClient(target, append(dial, o.dial...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:       conn,
		Chat:       switchboardv1.NewChatServiceClient(conn),
		Embeddings: switchboardv1.NewEmbeddingServiceClient(conn),
	}, nil
}

// Conn is the underlying connection, for other services on the same port
// (grpc.health.v1, reflection).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection; calls in flight fail with CANCELED.
func (c *Client) Close() error { return c.conn.Close() }

// Stream runs StreamComplete and yields each chunk as the gateway sends it.
// A failure (at the start or mid-stream) is yielded once as (nil, err) and
// ends the sequence. Breaking out of the loop early cancels the call, so the
// gateway stops generating.
//
//	for chunk, err := range client.Stream(ctx, req) {
//		if err != nil { return err }
//		fmt.Print(chunk.GetChoices()[0].GetDelta().GetContent())
//	}
func (c *Client) Stream(ctx context.Context, req *switchboardv1.ChatRequest, opts ...grpc.CallOption) iter.Seq2[*switchboardv1.ChatChunk, error] {
	return func(yield func(*switchboardv1.ChatChunk, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.Chat.StreamComplete(ctx, req, opts...)
		if err != nil {
			yield(nil, err)
			return
		}
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(chunk, nil) {
				return
			}
		}
	}
}

// UserMessage is a plain-text message from the end user.
func UserMessage(text string) *switchboardv1.Message {
	return textMessage(switchboardv1.Role_ROLE_USER, text)
}

// SystemMessage is a plain-text instruction from the application.
func SystemMessage(text string) *switchboardv1.Message {
	return textMessage(switchboardv1.Role_ROLE_SYSTEM, text)
}

func textMessage(role switchboardv1.Role, text string) *switchboardv1.Message {
	return &switchboardv1.Message{Role: role, Content: &switchboardv1.Message_Text{Text: text}}
}

// RetryDelay is how long the gateway asks the caller to wait before retrying
// (google.rpc.RetryInfo on the status), e.g. after a provider's 429 with
// `retry-after`. ok is false when err carries no RetryInfo.
func RetryDelay(err error) (delay time.Duration, ok bool) {
	if info := detail[*errdetails.RetryInfo](err); info != nil {
		return info.GetRetryDelay().AsDuration(), true
	}
	return 0, false
}

// ErrorInfo is the google.rpc.ErrorInfo the gateway attaches to its errors:
// domain "switchboard.v1", an UPPER_SNAKE reason such as
// "UPSTREAM_RATE_LIMITED", and metadata such as the provider and its error
// code. ok is false when err carries none (e.g. a transport failure).
func ErrorInfo(err error) (info *errdetails.ErrorInfo, ok bool) {
	info = detail[*errdetails.ErrorInfo](err)
	return info, info != nil
}

// detail returns the first detail of type T on err's gRPC status, or nil.
func detail[T any](err error) T {
	var zero T
	st, ok := status.FromError(err)
	if !ok {
		return zero
	}
	for _, d := range st.Details() {
		if v, ok := d.(T); ok {
			return v
		}
	}
	return zero
}

// bearerToken sends the API key on every call. It refuses a plaintext
// connection unless the client was built WithPlaintext, so a forgotten TLS
// setting cannot leak the key (grpc.NewClient rejects the combination).
type bearerToken struct {
	key        string
	requireTLS bool
}

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

func (b bearerToken) RequireTransportSecurity() bool { return b.requireTLS }
