import { z } from 'zod';
import { ActivityRecordSchema, ActivityStatus, ReplyRecordSchema, StepRecordSchema } from '../activity/record.js';

/**
 * The response shapes of the operator API, one zod schema each. The
 * TypeScript types are inferred from them, and the OpenAPI document
 * (lib/api/openapi.ts) is generated from them with `z.toJSONSchema`, so the
 * code, the types and the document cannot drift apart.
 */

/** Who triggered an execution on the platform. */
export const ExecutionUserSchema = z
  .strictObject({ id: z.number().nullable(), email: z.string().nullable() })
  .meta({ description: 'The platform user who triggered the action, when the message names one.' });

/**
 * One execution as `GET /executions` lists it and the live feed sends it:
 * what it is about and where it stands, without steps, replies or memory.
 *
 * @example
 * const summary: ExecutionSummary = ExecutionSummarySchema.parse(body.items[0]);
 * if (summary.status === 'failed') console.log(summary.incident_id, summary.duration_ms);
 */
export const ExecutionSummarySchema = z
  .strictObject({
    /** UUID v7 (time-ordered): sorting ids sorts by arrival. */
    execution_id: z.string().meta({ description: 'Id of the execution (UUID v7: time-ordered).' }),
    correlation_id: z.string().nullable().meta({ description: 'The STOMP correlation-id of the message.' }),
    status: ActivityStatus.meta({ description: 'Where the execution stands; `received` and `running` only while it runs.' }),
    destination: z.string().nullable().meta({ description: 'Programmatic name of the message destination.' }),
    action_name: z.string().nullable().meta({ description: 'The action, once the message was parsed.' }),
    processor: z.string().nullable().meta({ description: 'The processor that handles it, once resolved.' }),
    org_id: z.number().int().nullable(),
    object_type: z.string().nullable().meta({ description: 'The most specific object the action ran on (incident, task, artifact, ...).' }),
    object_ids: z.record(z.string(), z.number()).meta({ description: 'Ids of the objects the action ran on: `{"incident": 2095, "artifact": 3}`.' }),
    /** `object_ids.incident`, or null: the `incident` filter matches it. */
    incident_id: z.number().int().nullable().meta({ description: 'The incident the action ran on (`object_ids.incident`), or null.' }),
    user: ExecutionUserSchema.nullable(),
    received_at: z.string().meta({ description: 'When the message arrived (ISO 8601, milliseconds); `since`/`until` filter on it.' }),
    started_at: z.string().nullable().meta({ description: 'When the handler started.' }),
    ended_at: z.string().nullable().meta({ description: 'When the execution finished.' }),
    /** `ended_at - started_at` (or `- received_at` when it never started); null while running. */
    duration_ms: z.number().nullable().meta({ description: 'Milliseconds from start (or arrival, when it never started) to end; null while running.' }),
    rerun: z.literal(true).optional().meta({ description: 'Present when an earlier run of this invocation started and never finished.' }),
  })
  .meta({ id: 'ExecutionSummary', description: 'An execution: what it is about and where it stands.' });
export type ExecutionSummary = z.infer<typeof ExecutionSummarySchema>;

/**
 * One execution in full (`GET /executions/:id`): the summary, its steps and
 * replies so far, its error, the handler memory (when `activity.report_memory`
 * is on) and, once finished, the signed record.
 *
 * @example
 * const detail = ExecutionDetailSchema.parse(await (await fetch(`${url}/executions/${id}`, { headers })).json());
 * for (const step of detail.steps) console.log(step.name, step.status);
 */
export const ExecutionDetailSchema = ExecutionSummarySchema.extend({
  steps: z.array(StepRecordSchema).meta({ description: 'Handler steps, declared ones first as `pending`.' }),
  replies: z.array(ReplyRecordSchema).meta({ description: 'Replies sent to the platform, in order.' }),
  error: z.string().nullable(),
  memory: z
    .union([z.record(z.string(), z.unknown()), z.string()])
    .nullable()
    .meta({
      description:
        'Handler context variables (`activity.report_memory`; a base64 string with `encode_b64_memory`). ' +
        'The string `"[redacted]"` unless the token has the `read:sensitive` scope; null when not reported or still running.',
    }),
  record: ActivityRecordSchema.optional().meta({
    description:
      'The signed activity record, once finished. Without the `read:sensitive` scope it is redacted like the rest ' +
      '(memory `"[redacted]"`, secret-named keys and known secret values replaced), so its signature no longer verifies: ' +
      'verify records from the store (`cafkit verify`) or with a `read:sensitive` token.',
  }),
}).meta({ id: 'ExecutionDetail', description: 'An execution in full: summary, steps, replies, error, memory and its signed record.' });
export type ExecutionDetail = z.infer<typeof ExecutionDetailSchema>;

/**
 * A page of `GET /executions`, newest first.
 *
 * @example
 * let cursor: string | null = null;
 * do {
 *   const page = ExecutionListSchema.parse(await get(`/executions${cursor ? `?cursor=${cursor}` : ''}`));
 *   cursor = page.next_cursor;
 * } while (cursor);
 */
export const ExecutionListSchema = z
  .strictObject({
    items: z.array(ExecutionSummarySchema),
    next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next (older) page; null on the last page.' }),
  })
  .meta({ id: 'ExecutionList', description: 'A page of executions, newest first.' });
export type ExecutionList = z.infer<typeof ExecutionListSchema>;

/**
 * Every error the API answers: a stable machine code and a sentence.
 *
 * @example
 * // 400: {"error":"bad_request","message":"invalid limit: expected an integer from 1 to 500"}
 * const { error, message } = ErrorSchema.parse(await res.json());
 */
export const ErrorSchema = z
  .strictObject({
    error: z.string().meta({ description: 'Machine code: `unauthorized`, `bad_request`, `not_found`, `method_not_allowed`, `internal`.' }),
    message: z.string().meta({ description: 'What went wrong, for a person.' }),
  })
  .meta({ id: 'Error', description: 'An error.' });
export type ApiError = z.infer<typeof ErrorSchema>;

/** The counters of one activity sink, as `GET /health` shows them. */
export const SinkHealthSchema = z
  .strictObject({
    queued: z.number().int().meta({ description: 'Events waiting in memory.' }),
    in_spill: z.number().int().meta({ description: 'Events waiting in the on-disk spill.' }),
    dropped: z.number().int().meta({ description: 'Events given up on since start.' }),
    failed_attempts: z.number().int().meta({ description: 'Failed delivery attempts since start.' }),
    last_error: z.string().optional(),
    last_error_at: z.string().optional(),
  })
  .meta({ id: 'SinkHealth' });
export type SinkHealth = z.infer<typeof SinkHealthSchema>;

/**
 * `GET /health`: 200 with `ready: true` when the broker is connected and
 * every destination subscribed, 503 with `ready: false` otherwise.
 *
 * @example
 * const health = HealthSchema.parse(await res.json());
 * if (!health.ready) console.log(health.broker.connected, health.subscriptions);
 */
export const HealthSchema = z
  .strictObject({
    ready: z.boolean(),
    broker: z.strictObject({ connected: z.boolean() }),
    subscriptions: z.array(z.strictObject({ destination: z.string(), kind: z.enum(['queue', 'topic']) })),
    in_flight: z.number().int().meta({ description: 'Messages being handled now.' }),
    sinks: z.record(z.string(), SinkHealthSchema).meta({ description: 'Activity sinks by name.' }),
  })
  .meta({ id: 'Health', description: 'Readiness: broker connected and every destination subscribed.' });
export type Health = z.infer<typeof HealthSchema>;

/** An event of the live feed: what happened, and the execution after it. */
export const StreamEventMessageSchema = z
  .strictObject({
    type: z.literal('event'),
    cursor: z.string().meta({ description: 'Event cursor `<boot>:<n>`: reconnect with `?cursor=` to resume after it.' }),
    event: z.strictObject({
      kind: z.enum(['received', 'started', 'step_started', 'step_ended', 'reply', 'completed', 'failed', 'timed_out', 'dead_lettered']),
      at: z.string(),
      execution_id: z.string(),
    }),
    execution: ExecutionSummarySchema,
  })
  .meta({ id: 'StreamEvent', description: 'An event of an execution that matches the filters.' });

/** The backlog after the client's cursor has been sent; live events follow. */
export const StreamReadyMessageSchema = z
  .strictObject({ type: z.literal('ready'), cursor: z.string() })
  .meta({ id: 'StreamReady', description: 'The backlog after the given cursor has been sent (at once without a cursor); live events follow.' });

/** The client's cursor is older than the buffer or from another process: re-list, then continue. */
export const StreamGapMessageSchema = z
  .strictObject({ type: z.literal('gap'), cursor: z.string() })
  .meta({
    id: 'StreamGap',
    description: 'Events after the given cursor were lost (too old, or another process): re-list through GET /executions and continue from `cursor`.',
  });

/**
 * A text frame of `WS /executions/stream` (JSON), told apart by `type`.
 *
 * @example
 * ws.on('message', (data) => {
 *   const msg = StreamMessageSchema.parse(JSON.parse(String(data)));
 *   if (msg.type === 'gap') relist();
 *   if (msg.type === 'event') show(msg.execution);
 * });
 */
export const StreamMessageSchema = z
  .discriminatedUnion('type', [StreamEventMessageSchema, StreamReadyMessageSchema, StreamGapMessageSchema])
  .meta({ id: 'StreamMessage', description: 'A server-to-client frame of the live feed.' });
export type StreamMessage = z.infer<typeof StreamMessageSchema>;
