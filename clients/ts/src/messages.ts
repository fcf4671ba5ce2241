import { create } from "@bufbuild/protobuf";
import { type Message, MessageSchema, Role } from "./gen/switchboard/v1/chat_pb.js";

/** A plain-text message from the end user. */
export function userMessage(text: string): Message {
  return create(MessageSchema, { role: Role.USER, content: { case: "text", value: text } });
}

/** A plain-text instruction from the application. */
export function systemMessage(text: string): Message {
  return create(MessageSchema, { role: Role.SYSTEM, content: { case: "text", value: text } });
}
