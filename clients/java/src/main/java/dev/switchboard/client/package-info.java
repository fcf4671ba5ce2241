/**
 * Helpers around the generated {@code dev.switchboard.v1} stubs: a channel that sends the API key
 * as a bearer token ({@link dev.switchboard.client.SwitchboardChannelBuilder}), the call
 * credentials behind it ({@link dev.switchboard.client.BearerTokenCredentials}) and accessors for
 * the {@code google.rpc} details the gateway attaches to errors ({@link
 * dev.switchboard.client.SwitchboardErrors}).
 */
package dev.switchboard.client;
