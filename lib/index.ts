/**
 * cafkit: run CAF action processors for the Co3/Resilient platform.
 *
 * A processor author needs {@link defineProcessor} and, to report a
 * failure in words an analyst understands, {@link ActionError}.
 */
export { defineProcessor, type ProcessorDefinition, type Handler, type HandlerContext, type HandlerResult, type DestinationRef } from './runtime/processor.js';
export { ActionError, HandlerTimeoutError } from './runtime/errors.js';
export { createRuntime, Runtime, type RuntimeParts } from './runtime/runtime.js';
export { loadProcessors } from './runtime/load-processors.js';
export { MemoryCompletedReplies, type CompletedReplies, type StoredReply } from './runtime/completed-replies.js';
export { RestClient, type RestClientOptions } from './rest/client.js';
export { RestError, ConflictError, RestUnreachableError } from './rest/errors.js';
export { StompTransport, type StompTransportOptions } from './broker/stomp-tls.js';
export type { Transport, InboundMessage, Destination, SendOptions, Subscription, TransportState } from './broker/transport.js';
export { ActionDataSchema, selectLabel, type ActionData, type ActionDataInput } from './wire/action-data.js';
export { AcknowledgementSchema, type Acknowledgement } from './wire/acknowledgement.js';
export { loadConfig, ConfigError } from './config/load.js';
export { ConfigSchema, type Config, type ConfigInput } from './config/schema.js';
export { createLogger } from './log/logger.js';
export type { Log } from './log/log.js';
