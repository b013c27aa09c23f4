import { z } from 'zod';

/** Where an execution stands: a fixed vocabulary, shared by every sink. */
export const ActivityStatus = z.enum(['received', 'running', 'succeeded', 'failed', 'timed_out', 'dead_lettered']);
export type ActivityStatus = z.infer<typeof ActivityStatus>;

/** A handler step (`ctx.step(name, fn)`); declared steps start as `pending`. */
export const StepRecordSchema = z.strictObject({
  name: z.string(),
  status: z.enum(['pending', 'running', 'succeeded', 'failed']),
  started_at: z.string().optional(),
  ended_at: z.string().optional(),
  /** Output variables the step returned. */
  output: z.record(z.string(), z.unknown()).optional(),
  error: z.string().optional(),
});
export type StepRecord = z.infer<typeof StepRecordSchema>;

/** A reply sent to the platform for this execution. */
export const ReplyRecordSchema = z.strictObject({
  at: z.string(),
  message_type: z.number().int(),
  message: z.string(),
  complete: z.boolean(),
});
export type ReplyRecord = z.infer<typeof ReplyRecordSchema>;

/**
 * The signed record of one execution (one message handled). Timestamps are
 * ISO 8601 with milliseconds, taken where the transition happened.
 *
 * `seq`, `chain_id`, `prev_hash`, `key_id` and `signature` are set by the
 * signer: `signature` is ECDSA P-256 / SHA-256 (base64, IEEE P1363) over the
 * RFC 8785 canonical JSON of the record without `signature`; `prev_hash` is
 * the SHA-256 (hex) of the canonical JSON of the previous record of the same
 * chain (with its signature), null for the first.
 */
export const ActivityRecordSchema = z.strictObject({
  /** Unique id of this record (UUID v7: time-ordered). */
  id: z.string(),
  /** Id of the execution (UUID v7); the same across redeliveries of one invocation that re-run it. */
  execution_id: z.string(),
  correlation_id: z.string().nullable(),
  org_id: z.number().int(),
  /** Programmatic name of the message destination. */
  destination: z.string(),
  action_id: z.number().int().nullable(),
  action_name: z.string().nullable(),
  object_type: z.string().nullable(),
  /** Ids of the objects the action ran on: `{incident: 2095, artifact: 3}`. */
  object_ids: z.record(z.string(), z.number()),
  user: z.strictObject({ id: z.number().nullable(), email: z.string().nullable() }).nullable(),
  status: ActivityStatus,
  received_at: z.string(),
  started_at: z.string().nullable(),
  ended_at: z.string().nullable(),
  steps: z.array(StepRecordSchema),
  replies: z.array(ReplyRecordSchema),
  error: z.string().nullable(),
  processor: z.strictObject({ name: z.string().nullable(), host: z.string(), version: z.string() }),
  /** Handler context variables (`report_memory`); base64 of their JSON with `encode_b64_memory`. */
  memory: z.union([z.record(z.string(), z.unknown()), z.string()]).nullable(),
  /** Present (true) when an earlier run of this invocation started and never finished (the processor died mid-action). */
  rerun: z.literal(true).optional(),
  /** Position in its chain, from 1. */
  seq: z.number().int().positive(),
  /** The chain this record belongs to (one per signing processor instance). */
  chain_id: z.string(),
  prev_hash: z.string().nullable(),
  /** SHA-256 (hex) of the signing public key's SPKI DER. */
  key_id: z.string(),
  signature: z.string(),
});
export type ActivityRecord = z.infer<typeof ActivityRecordSchema>;
/** A record before the signer has chained and signed it. */
export type UnsignedActivity = Omit<ActivityRecord, 'seq' | 'chain_id' | 'prev_hash' | 'key_id' | 'signature'>;

/**
 * What an execution is about, carried by its `started` event so a channel
 * that follows executions as they run (TheHive) can name it before the
 * record exists. The same values as the record's fields of these names.
 */
export const ExecutionSummarySchema = z.strictObject({
  org_id: z.number().int(),
  destination: z.string(),
  action_id: z.number().int().nullable(),
  action_name: z.string().nullable(),
  processor: z.string().nullable(),
  object_type: z.string().nullable(),
  object_ids: z.record(z.string(), z.number()),
  user: z.strictObject({ id: z.number().nullable(), email: z.string().nullable() }).nullable(),
  received_at: z.string(),
  rerun: z.literal(true).optional(),
});
export type ExecutionSummary = z.infer<typeof ExecutionSummarySchema>;

/** A transition of an execution, as the reporter fans it out to sinks. */
export const ActivityEventSchema = z.strictObject({
  kind: z.enum(['received', 'started', 'step_started', 'step_ended', 'reply', 'completed', 'failed', 'timed_out', 'dead_lettered']),
  at: z.string(),
  execution_id: z.string(),
  correlation_id: z.string().nullable(),
  /** The step, for step events; the reply, for reply events. */
  step: StepRecordSchema.optional(),
  reply: ReplyRecordSchema.optional(),
  /** What the execution is about, on the `received` event (destination only) and the `started` event (action and processor too). */
  about: ExecutionSummarySchema.optional(),
  /** The steps the route declares, all pending, on the `started` event (so a running execution shows what is still to come). */
  steps: z.array(StepRecordSchema).optional(),
  /** The signed record, on the final event (completed, failed, timed_out, dead_lettered). */
  record: ActivityRecordSchema.optional(),
});
export type ActivityEvent = z.infer<typeof ActivityEventSchema>;
