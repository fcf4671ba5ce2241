package dev.switchboard.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Chat completions across every configured provider. The request and response
 * model the OpenAI chat surface; the gateway translates them to each
 * provider's native wire format.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class ChatServiceGrpc {

  private ChatServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "switchboard.v1.ChatService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.switchboard.v1.ChatRequest,
      dev.switchboard.v1.ChatResponse> getCompleteMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Complete",
      requestType = dev.switchboard.v1.ChatRequest.class,
      responseType = dev.switchboard.v1.ChatResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.switchboard.v1.ChatRequest,
      dev.switchboard.v1.ChatResponse> getCompleteMethod() {
    io.grpc.MethodDescriptor<dev.switchboard.v1.ChatRequest, dev.switchboard.v1.ChatResponse> getCompleteMethod;
    if ((getCompleteMethod = ChatServiceGrpc.getCompleteMethod) == null) {
      synchronized (ChatServiceGrpc.class) {
        if ((getCompleteMethod = ChatServiceGrpc.getCompleteMethod) == null) {
          ChatServiceGrpc.getCompleteMethod = getCompleteMethod =
              io.grpc.MethodDescriptor.<dev.switchboard.v1.ChatRequest, dev.switchboard.v1.ChatResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Complete"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.switchboard.v1.ChatRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.switchboard.v1.ChatResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ChatServiceMethodDescriptorSupplier("Complete"))
              .build();
        }
      }
    }
    return getCompleteMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.switchboard.v1.ChatRequest,
      dev.switchboard.v1.ChatChunk> getStreamCompleteMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "StreamComplete",
      requestType = dev.switchboard.v1.ChatRequest.class,
      responseType = dev.switchboard.v1.ChatChunk.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.switchboard.v1.ChatRequest,
      dev.switchboard.v1.ChatChunk> getStreamCompleteMethod() {
    io.grpc.MethodDescriptor<dev.switchboard.v1.ChatRequest, dev.switchboard.v1.ChatChunk> getStreamCompleteMethod;
    if ((getStreamCompleteMethod = ChatServiceGrpc.getStreamCompleteMethod) == null) {
      synchronized (ChatServiceGrpc.class) {
        if ((getStreamCompleteMethod = ChatServiceGrpc.getStreamCompleteMethod) == null) {
          ChatServiceGrpc.getStreamCompleteMethod = getStreamCompleteMethod =
              io.grpc.MethodDescriptor.<dev.switchboard.v1.ChatRequest, dev.switchboard.v1.ChatChunk>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "StreamComplete"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.switchboard.v1.ChatRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.switchboard.v1.ChatChunk.getDefaultInstance()))
              .setSchemaDescriptor(new ChatServiceMethodDescriptorSupplier("StreamComplete"))
              .build();
        }
      }
    }
    return getStreamCompleteMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.switchboard.v1.ListModelsRequest,
      dev.switchboard.v1.ListModelsResponse> getListModelsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListModels",
      requestType = dev.switchboard.v1.ListModelsRequest.class,
      responseType = dev.switchboard.v1.ListModelsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.switchboard.v1.ListModelsRequest,
      dev.switchboard.v1.ListModelsResponse> getListModelsMethod() {
    io.grpc.MethodDescriptor<dev.switchboard.v1.ListModelsRequest, dev.switchboard.v1.ListModelsResponse> getListModelsMethod;
    if ((getListModelsMethod = ChatServiceGrpc.getListModelsMethod) == null) {
      synchronized (ChatServiceGrpc.class) {
        if ((getListModelsMethod = ChatServiceGrpc.getListModelsMethod) == null) {
          ChatServiceGrpc.getListModelsMethod = getListModelsMethod =
              io.grpc.MethodDescriptor.<dev.switchboard.v1.ListModelsRequest, dev.switchboard.v1.ListModelsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListModels"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.switchboard.v1.ListModelsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.switchboard.v1.ListModelsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ChatServiceMethodDescriptorSupplier("ListModels"))
              .build();
        }
      }
    }
    return getListModelsMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static ChatServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ChatServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ChatServiceStub>() {
        @java.lang.Override
        public ChatServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ChatServiceStub(channel, callOptions);
        }
      };
    return ChatServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static ChatServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ChatServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ChatServiceBlockingV2Stub>() {
        @java.lang.Override
        public ChatServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ChatServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return ChatServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static ChatServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ChatServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ChatServiceBlockingStub>() {
        @java.lang.Override
        public ChatServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ChatServiceBlockingStub(channel, callOptions);
        }
      };
    return ChatServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static ChatServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ChatServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ChatServiceFutureStub>() {
        @java.lang.Override
        public ChatServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ChatServiceFutureStub(channel, callOptions);
        }
      };
    return ChatServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Chat completions across every configured provider. The request and response
   * model the OpenAI chat surface; the gateway translates them to each
   * provider's native wire format.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Runs a chat completion and returns the whole answer.
     * </pre>
     */
    default void complete(dev.switchboard.v1.ChatRequest request,
        io.grpc.stub.StreamObserver<dev.switchboard.v1.ChatResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCompleteMethod(), responseObserver);
    }

    /**
     * <pre>
     * Runs a chat completion and streams the answer as it is generated. Each
     * chunk is sent as soon as the provider produced it.
     * </pre>
     */
    default void streamComplete(dev.switchboard.v1.ChatRequest request,
        io.grpc.stub.StreamObserver<dev.switchboard.v1.ChatChunk> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getStreamCompleteMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists the logical model names this gateway serves.
     * </pre>
     */
    default void listModels(dev.switchboard.v1.ListModelsRequest request,
        io.grpc.stub.StreamObserver<dev.switchboard.v1.ListModelsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListModelsMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service ChatService.
   * <pre>
   * Chat completions across every configured provider. The request and response
   * model the OpenAI chat surface; the gateway translates them to each
   * provider's native wire format.
   * </pre>
   */
  public static abstract class ChatServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return ChatServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service ChatService.
   * <pre>
   * Chat completions across every configured provider. The request and response
   * model the OpenAI chat surface; the gateway translates them to each
   * provider's native wire format.
   * </pre>
   */
  public static final class ChatServiceStub
      extends io.grpc.stub.AbstractAsyncStub<ChatServiceStub> {
    private ChatServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ChatServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ChatServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Runs a chat completion and returns the whole answer.
     * </pre>
     */
    public void complete(dev.switchboard.v1.ChatRequest request,
        io.grpc.stub.StreamObserver<dev.switchboard.v1.ChatResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCompleteMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Runs a chat completion and streams the answer as it is generated. Each
     * chunk is sent as soon as the provider produced it.
     * </pre>
     */
    public void streamComplete(dev.switchboard.v1.ChatRequest request,
        io.grpc.stub.StreamObserver<dev.switchboard.v1.ChatChunk> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getStreamCompleteMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists the logical model names this gateway serves.
     * </pre>
     */
    public void listModels(dev.switchboard.v1.ListModelsRequest request,
        io.grpc.stub.StreamObserver<dev.switchboard.v1.ListModelsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListModelsMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service ChatService.
   * <pre>
   * Chat completions across every configured provider. The request and response
   * model the OpenAI chat surface; the gateway translates them to each
   * provider's native wire format.
   * </pre>
   */
  public static final class ChatServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<ChatServiceBlockingV2Stub> {
    private ChatServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ChatServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ChatServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Runs a chat completion and returns the whole answer.
     * </pre>
     */
    public dev.switchboard.v1.ChatResponse complete(dev.switchboard.v1.ChatRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCompleteMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Runs a chat completion and streams the answer as it is generated. Each
     * chunk is sent as soon as the provider produced it.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, dev.switchboard.v1.ChatChunk>
        streamComplete(dev.switchboard.v1.ChatRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getStreamCompleteMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists the logical model names this gateway serves.
     * </pre>
     */
    public dev.switchboard.v1.ListModelsResponse listModels(dev.switchboard.v1.ListModelsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListModelsMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service ChatService.
   * <pre>
   * Chat completions across every configured provider. The request and response
   * model the OpenAI chat surface; the gateway translates them to each
   * provider's native wire format.
   * </pre>
   */
  public static final class ChatServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<ChatServiceBlockingStub> {
    private ChatServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ChatServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ChatServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Runs a chat completion and returns the whole answer.
     * </pre>
     */
    public dev.switchboard.v1.ChatResponse complete(dev.switchboard.v1.ChatRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCompleteMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Runs a chat completion and streams the answer as it is generated. Each
     * chunk is sent as soon as the provider produced it.
     * </pre>
     */
    public java.util.Iterator<dev.switchboard.v1.ChatChunk> streamComplete(
        dev.switchboard.v1.ChatRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getStreamCompleteMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists the logical model names this gateway serves.
     * </pre>
     */
    public dev.switchboard.v1.ListModelsResponse listModels(dev.switchboard.v1.ListModelsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListModelsMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service ChatService.
   * <pre>
   * Chat completions across every configured provider. The request and response
   * model the OpenAI chat surface; the gateway translates them to each
   * provider's native wire format.
   * </pre>
   */
  public static final class ChatServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<ChatServiceFutureStub> {
    private ChatServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ChatServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ChatServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Runs a chat completion and returns the whole answer.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.switchboard.v1.ChatResponse> complete(
        dev.switchboard.v1.ChatRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCompleteMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists the logical model names this gateway serves.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.switchboard.v1.ListModelsResponse> listModels(
        dev.switchboard.v1.ListModelsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListModelsMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_COMPLETE = 0;
  private static final int METHODID_STREAM_COMPLETE = 1;
  private static final int METHODID_LIST_MODELS = 2;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_COMPLETE:
          serviceImpl.complete((dev.switchboard.v1.ChatRequest) request,
              (io.grpc.stub.StreamObserver<dev.switchboard.v1.ChatResponse>) responseObserver);
          break;
        case METHODID_STREAM_COMPLETE:
          serviceImpl.streamComplete((dev.switchboard.v1.ChatRequest) request,
              (io.grpc.stub.StreamObserver<dev.switchboard.v1.ChatChunk>) responseObserver);
          break;
        case METHODID_LIST_MODELS:
          serviceImpl.listModels((dev.switchboard.v1.ListModelsRequest) request,
              (io.grpc.stub.StreamObserver<dev.switchboard.v1.ListModelsResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getCompleteMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.switchboard.v1.ChatRequest,
              dev.switchboard.v1.ChatResponse>(
                service, METHODID_COMPLETE)))
        .addMethod(
          getStreamCompleteMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              dev.switchboard.v1.ChatRequest,
              dev.switchboard.v1.ChatChunk>(
                service, METHODID_STREAM_COMPLETE)))
        .addMethod(
          getListModelsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.switchboard.v1.ListModelsRequest,
              dev.switchboard.v1.ListModelsResponse>(
                service, METHODID_LIST_MODELS)))
        .build();
  }

  private static abstract class ChatServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    ChatServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.switchboard.v1.ChatProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("ChatService");
    }
  }

  private static final class ChatServiceFileDescriptorSupplier
      extends ChatServiceBaseDescriptorSupplier {
    ChatServiceFileDescriptorSupplier() {}
  }

  private static final class ChatServiceMethodDescriptorSupplier
      extends ChatServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    ChatServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (ChatServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new ChatServiceFileDescriptorSupplier())
              .addMethod(getCompleteMethod())
              .addMethod(getStreamCompleteMethod())
              .addMethod(getListModelsMethod())
              .build();
        }
      }
    }
    return result;
  }
}
