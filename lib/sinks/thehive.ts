import { createHash } from 'node:crypto';
import type { ActivitySink } from '../activity/sink.js';
import type { ActivityEvent, ActivityRecord, ActivityStatus, StepRecord } from '../activity/record.js';
import type { TheHiveChannel } from '../config/alerting.js';
import type { Log } from '../log/log.js';
import { finalRecords } from './channel.js';
import { activityTitle } from './render.js';
import { caseTags, caseTitle, markdownFacts, outcomeLog, recordFacts, stepOutcome, summaryFacts } from './thehive-text.js';
import { OPEN_CASE_STATUSES, TheHiveApi, TheHiveError, type ClosedCaseStatus, type TaskStatus } from './thehive-api.js';
import { TheHiveCases, type CaseState } from './thehive-cases.js';

/** Title of the task that collects the replies sent to the platform. */
export const REPLIES_TASK = 'Replies to the platform';
/** Title of the task that holds the final summary and the signed record. */
export const OUTCOME_TASK = 'Outcome';

/**
 * The closed status a case gets, by activity status. TheHive's closed
 * statuses judge an alert (true or false positive); an execution record is
 * not an alert, so a finished run is `Other` (nothing to judge: the action
 * did what it was asked), and a run that failed, timed out or was dead-
 * lettered is `Indeterminate` (what the action did to the platform is not
 * known; the case is also flagged for a person to look at).
 */
export const CLOSED_STATUS: Record<Exclude<ActivityStatus, 'received' | 'running'>, ClosedCaseStatus> = {
  succeeded: 'Other',
  failed: 'Indeterminate',
  timed_out: 'Indeterminate',
  dead_lettered: 'Indeterminate',
};

/** The TheHive channel as the reporter drives it. */
export type TheHiveSink = ActivitySink & { close(): Promise<void> };

/**
 * The TheHive channel: follows each execution routed to it as a case in
 * TheHive 5 (v1 API), as it runs.
 *
 * - `started`: a case `cafkit: <action> on incident 2095`, its description
 *   the execution's facts, tagged `cafkit`, `execution:<id>`,
 *   `correlation:<id>` and the configured tags, with the configured
 *   severity, TLP and PAP;
 * - `step_started`: a task per step (InProgress); `step_ended`: a log with
 *   its output variables or error, then the task Completed, or Cancel and
 *   flagged when it failed;
 * - `reply`: a log on the task {@link REPLIES_TASK};
 * - a final event: a task {@link OUTCOME_TASK} with the summary and the
 *   signed record (base64 with the `base64` option), tasks left open closed,
 *   and the case closed ({@link CLOSED_STATUS}) with the activity title as
 *   summary. A final event for an execution with no case opens it from the
 *   record first.
 *
 * With `statuses`, only final events of those statuses are taken (the
 * outcome is not known while the run goes on), so each case is opened and
 * closed from the record.
 *
 * Order: the reporter hands the sink one event at a time, and `deliver`
 * makes the event's calls one after the other and returns only when all are
 * done, so TheHive sees an execution's updates in the order they happened
 * (unlike a fire-and-forget reporter, where step N+1 can overtake step N).
 *
 * Retries and restarts: the reporter retries a failed event as is; every
 * call done is recorded in `<home>/thehive/cases.jsonl` (see
 * {@link TheHiveCases}), fsynced before `deliver` returns, so a retry, a
 * replayed event or a restarted processor skips what was done instead of
 * opening a second case or task. An event older than the sink whose
 * execution has no mapping (a crash between creating and recording) first
 * looks for the case by its `execution:<id>` tag, and for a step's task by
 * title and start date; so does the retry of a creation whose answer was
 * lost (timeout, 5xx, dropped connection: TheHive may have made it). A log
 * whose answer was lost is written again: logs are at least once.
 *
 * @example
 * const sink = createTheHiveSink(config.alerting.thehive, { log, home });
 * const reporter = new Reporter([fileStore, sink], { spillDir, log });
 */
export function createTheHiveSink(config: TheHiveChannel, deps: { log: Log; home: string }): TheHiveSink {
  const log = deps.log;
  const api = new TheHiveApi(config, log);
  const cases = TheHiveCases.open(deps.home, log);
  const startedAt = Date.now();
  const takesFinals = config.statuses ? finalRecords(config.statuses) : undefined;
  /** Executions whose case this sink created: no earlier run can have made tasks for them. */
  const createdHere = new Set<string>();
  /**
   * Creations whose outcome is unknown (timeout, 5xx, dropped connection:
   * TheHive may have made the object), by `<execution>|<case or task key>`:
   * the retry looks for the object before creating it again.
   */
  const uncertain = new Set<string>();

  /** Runs a creation, noting an ambiguous failure for the retry; a 4xx is a refusal, not ambiguous. */
  async function creating<T>(what: string, create: () => Promise<T>): Promise<T> {
    try {
      const created = await create();
      uncertain.delete(what);
      return created;
    } catch (error) {
      const status = error instanceof TheHiveError ? error.status : undefined;
      if (status === undefined || status >= 500) uncertain.add(what);
      throw error;
    }
  }

  async function deliver(event: ActivityEvent): Promise<void> {
    try {
      await handle(event);
    } finally {
      // What was done before a failure is on disk too, so the retry skips it.
      cases.sync();
    }
  }

  async function handle(event: ActivityEvent): Promise<void> {
    if (event.kind === 'received') return;
    const known = cases.get(event.execution_id);
    if (known?.closedAt !== undefined) {
      log.debug('thehive: event for a closed case skipped', { execution_id: event.execution_id, kind: event.kind });
      return;
    }
    const olderThanSink = Date.parse(event.at) < startedAt;
    switch (event.kind) {
      case 'started': {
        await ensureCase(event, olderThanSink);
        return;
      }
      case 'step_started':
      case 'step_ended': {
        const step = event.step;
        if (!step) return;
        const state = await ensureCase(event, olderThanSink);
        if (!state) return;
        const taskId = await ensureStepTask(event.execution_id, state, step, olderThanSink);
        if (event.kind === 'step_ended') await endStep(event.execution_id, state, step, taskId);
        return;
      }
      case 'reply': {
        const reply = event.reply;
        if (!reply) return;
        const state = await ensureCase(event, olderThanSink);
        if (!state) return;
        const marker = `reply:${reply.at}:${createHash('sha256').update(`${reply.message_type}|${reply.complete}|${reply.message}`).digest('hex').slice(0, 16)}`;
        if (state.done.has(marker)) return;
        const taskId = await ensureTask(event.execution_id, state, 'replies', { title: REPLIES_TASK, status: 'InProgress' }, olderThanSink);
        const kind = reply.message_type === 0 ? 'info' : reply.message_type === 1 ? 'warning' : 'error';
        await api.addTaskLog(taskId, `**${kind}**${reply.complete ? ' (final)' : ''}: ${reply.message}`, ms(reply.at));
        cases.record(event.execution_id, { done: [marker] });
        return;
      }
      default: {
        if (event.record) await finish(event, event.record, olderThanSink);
      }
    }
  }

  /** The execution's case, found or created; undefined when it turns out to be closed already. */
  async function ensureCase(event: ActivityEvent, olderThanSink: boolean): Promise<CaseState | undefined> {
    const executionId = event.execution_id;
    const known = cases.get(executionId);
    if (known?.caseId !== undefined) return known;
    if (olderThanSink || uncertain.has(`${executionId}|case`)) {
      // A previous run (or attempt) may have created the case and died before recording it.
      const found = await api.findCasesByTag(`execution:${executionId}`);
      const existing = found[0];
      if (existing) {
        if (found.length > 1) log.warn('thehive: several cases carry one execution tag; the first is used', { execution_id: executionId, cases: found.map((c) => c._id) });
        const open = existing.status === undefined || OPEN_CASE_STATUSES.includes(existing.status);
        log.info('thehive: case of an earlier run found by its execution tag', { execution_id: executionId, case: existing._id, open });
        uncertain.delete(`${executionId}|case`);
        const state = cases.record(executionId, open ? { case: existing._id } : { case: existing._id, closed: new Date().toISOString() });
        return open ? state : undefined;
      }
    }
    const about = event.about;
    const facts = about ? summaryFacts(executionId, event.correlation_id, about) : event.record ? recordFacts(event.record) : undefined;
    const created = await creating(`${executionId}|case`, () => api.createCase({
      title: about ? caseTitle(about) : event.record ? caseTitle(event.record) : `cafkit: execution ${executionId}`,
      description: facts ? markdownFacts(facts) : `Execution \`${executionId}\`: its start was not reported to this channel; the case is completed when it ends.`,
      severity: config.severity,
      tlp: config.tlp,
      pap: config.pap,
      tags: caseTags(executionId, event.correlation_id, config.tags),
      startDate: ms(about?.received_at ?? event.record?.received_at ?? event.at),
    }));
    createdHere.add(executionId);
    return cases.record(executionId, facts ? { case: created._id } : { case: created._id, minimal: true });
  }

  async function ensureTask(
    executionId: string,
    state: CaseState,
    key: string,
    task: { title: string; status: TaskStatus; startDate?: number },
    olderThanSink: boolean,
  ): Promise<string> {
    const known = state.tasks.get(key);
    if (known !== undefined) return known;
    const caseId = state.caseId!;
    if ((olderThanSink && !createdHere.has(executionId)) || uncertain.has(`${executionId}|${key}`)) {
      // Created by a run that died before recording it: the same title (and start, for a step) is the same task.
      const found = (await api.findCaseTasks(caseId)).find((t) => t.title === task.title && (task.startDate === undefined || t.startDate === task.startDate));
      if (found) {
        uncertain.delete(`${executionId}|${key}`);
        cases.record(executionId, { tasks: { [key]: found._id } });
        return found._id;
      }
    }
    const created = await creating(`${executionId}|${key}`, () => api.createTask(caseId, task));
    cases.record(executionId, { tasks: { [key]: created._id } });
    return created._id;
  }

  function ensureStepTask(executionId: string, state: CaseState, step: StepRecord, olderThanSink: boolean): Promise<string> {
    const startDate = step.started_at ? ms(step.started_at) : undefined;
    return ensureTask(executionId, state, stepKey(step), { title: step.name, status: 'InProgress', ...(startDate === undefined ? {} : { startDate }) }, olderThanSink);
  }

  async function endStep(executionId: string, state: CaseState, step: StepRecord, taskId: string): Promise<void> {
    const key = stepKey(step);
    const failed = step.status === 'failed';
    if (!state.done.has(`log:${key}`)) {
      await api.addTaskLog(taskId, stepOutcome(step), step.ended_at ? ms(step.ended_at) : undefined);
      cases.record(executionId, { done: [`log:${key}`] });
    }
    if (!state.done.has(`status:${key}`)) {
      await api.updateTask(taskId, failed ? { status: 'Cancel', flag: true } : { status: 'Completed' });
      cases.record(executionId, { done: [`status:${key}`] });
    }
  }

  async function finish(event: ActivityEvent, record: ActivityRecord, olderThanSink: boolean): Promise<void> {
    const executionId = event.execution_id;
    const state = await ensureCase(event, olderThanSink);
    if (!state) return;
    const succeeded = record.status === 'succeeded';
    const outcome = await ensureTask(executionId, state, 'outcome', { title: OUTCOME_TASK, status: 'InProgress', startDate: ms(record.ended_at ?? event.at) }, olderThanSink);
    if (!state.done.has('log:outcome')) {
      await api.addTaskLog(outcome, outcomeLog(record, config.base64), ms(record.ended_at ?? event.at));
      cases.record(executionId, { done: ['log:outcome'] });
    }
    if (!state.done.has('status:outcome')) {
      await api.updateTask(outcome, succeeded ? { status: 'Completed' } : { status: 'Completed', flag: true });
      cases.record(executionId, { done: ['status:outcome'] });
    }
    // No task stays open on a closed case: steps that never ended are cancelled, the replies task completed.
    const leftOpen: Array<[string, TaskStatus]> = [];
    for (const step of record.steps) {
      const key = stepKey(step);
      if (state.tasks.has(key) && !state.done.has(`status:${key}`)) leftOpen.push([key, 'Cancel']);
    }
    if (state.tasks.has('replies')) leftOpen.push(['replies', 'Completed']);
    for (const [key, status] of leftOpen) {
      if (state.done.has(`status:${key}`)) continue;
      await api.updateTask(state.tasks.get(key)!, status === 'Cancel' ? { status, flag: true } : { status });
      cases.record(executionId, { done: [`status:${key}`] });
    }
    await api.updateCase(state.caseId!, {
      // A case opened before its start was seen gets its proper title and description now.
      ...(state.minimal ? { title: caseTitle(record), description: markdownFacts(recordFacts(record)) } : {}),
      ...(succeeded ? {} : { flag: true }),
      status: CLOSED_STATUS[record.status as keyof typeof CLOSED_STATUS] ?? 'Indeterminate',
      impactStatus: 'NotApplicable',
      summary: activityTitle(record),
    });
    cases.record(executionId, { closed: new Date().toISOString() });
    createdHere.delete(executionId);
    for (const key of uncertain) if (key.startsWith(`${executionId}|`)) uncertain.delete(key);
  }

  return {
    name: 'thehive',
    accepts: (event) => (takesFinals ? takesFinals(event) : event.kind !== 'received'),
    deliver,
    async close() {
      api.close();
      cases.close();
    },
  };
}

/** Identifies a step's task: a name can be used by several steps of one run, a start time only by one. */
function stepKey(step: StepRecord): string {
  return `step:${step.name}@${step.started_at ?? ''}`;
}

function ms(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? Date.now() : t;
}
