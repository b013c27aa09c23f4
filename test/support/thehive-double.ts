// Test double of TheHive 5's v1 API, over HTTPS on loopback, checking what
// TheHive checks for the calls the TheHive sink makes:
//
//   const hive = await startTheHiveDouble({ apiKey: 'k-123456' });
//   after(() => hive.stop());
//   ... hive.calls, hive.cases, hive.tasksOf(caseId), hive.logsOf(taskId)
//
// Bodies are validated with the fields of thehive4py v2's Input* types
// (unknown fields and wrong values answer 400), the Bearer key (401
// AuthenticationError), X-Organisation when configured, JSON content type,
// and ids (404 NotFoundError). Every call, refused or not, is recorded in
// arrival order. `latencyMs` delays each answer (to expose calls sent
// concurrently), `fail` answers 500 before any effect.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** The folder of the dev certificates (scripts/certs). */
import { certsDir } from './certs.js';
export { certsDir };

const TaskStatus = z.enum(['Waiting', 'InProgress', 'Completed', 'Cancel']);
const CaseStatus = z.enum(['New', 'InProgress', 'TruePositive', 'FalsePositive', 'Indeterminate', 'Other', 'Duplicated']);
const CLOSED = new Set(['TruePositive', 'FalsePositive', 'Indeterminate', 'Other', 'Duplicated']);
const Severity = z.number().int().min(1).max(4);
const Tlp = z.number().int().min(0).max(4);
const Pap = z.number().int().min(0).max(3);
const Millis = z.number().int().nonnegative();

// thehive4py v2 types: InputCase, InputUpdateCase, InputTask, InputUpdateTask, InputTaskLog.
const InputCase = z.strictObject({
  title: z.string().min(1),
  description: z.string().min(1),
  severity: Severity.optional(),
  startDate: Millis.optional(),
  endDate: Millis.optional(),
  tags: z.array(z.string().min(1)).optional(),
  flag: z.boolean().optional(),
  tlp: Tlp.optional(),
  pap: Pap.optional(),
  status: CaseStatus.optional(),
  summary: z.string().optional(),
  assignee: z.string().optional(),
  customFields: z.unknown().optional(),
  caseTemplate: z.string().optional(),
  tasks: z.array(z.unknown()).optional(),
  pages: z.array(z.unknown()).optional(),
  sharingParameters: z.array(z.unknown()).optional(),
  taskRule: z.string().optional(),
  observableRule: z.string().optional(),
});
// The update takes the case's own fields (none required), less the ones only creation sets, plus these.
const InputUpdateCase = InputCase.omit({ caseTemplate: true, tasks: true, pages: true, sharingParameters: true })
  .partial()
  .extend({
    impactStatus: z.enum(['NoImpact', 'WithImpact', 'NotApplicable']).optional(),
    addTags: z.array(z.string()).optional(),
    removeTags: z.array(z.string()).optional(),
  });
const taskFields = {
  group: z.string().optional(),
  description: z.string().optional(),
  status: TaskStatus.optional(),
  flag: z.boolean().optional(),
  startDate: Millis.optional(),
  endDate: Millis.optional(),
  order: z.number().int().optional(),
  dueDate: Millis.optional(),
  assignee: z.string().optional(),
  mandatory: z.boolean().optional(),
};
const InputTask = z.strictObject({ title: z.string().min(1), ...taskFields });
const InputUpdateTask = z.strictObject({ title: z.string().min(1).optional(), ...taskFields });
const InputTaskLog = z.strictObject({ message: z.string().min(1), startDate: Millis.optional(), includeInTimeline: Millis.optional() });
const Query = z.strictObject({ query: z.array(z.record(z.string(), z.unknown())).min(1) });

export interface HiveCase {
  _id: string;
  _type: 'Case';
  _createdAt: number;
  number: number;
  title: string;
  description: string;
  severity: number;
  tlp: number;
  pap: number;
  tags: string[];
  flag: boolean;
  startDate: number;
  status: string;
  summary?: string;
  impactStatus?: string;
}

export interface HiveTask {
  _id: string;
  _type: 'Task';
  caseId: string;
  title: string;
  group: string;
  status: string;
  flag: boolean;
  startDate?: number;
  order: number;
}

export interface HiveLog {
  _id: string;
  taskId: string;
  message: string;
  startDate: number;
}

/** One call as it arrived. `caseId` is the case it concerns, when known (a task's calls name the task's case). */
export interface HiveCall {
  seq: number;
  method: string;
  path: string;
  status: number;
  body: unknown;
  caseId?: string;
  taskId?: string;
}

export interface TheHiveDoubleOptions {
  apiKey: string;
  /** When set, calls must carry this `X-Organisation`. */
  organisation?: string;
  /** Server certificate and key file names in the certs folder (default broker.pem / broker-key.pem). */
  cert?: string;
  key?: string;
}

export interface TheHiveDouble {
  url: string;
  calls: HiveCall[];
  cases: Map<string, HiveCase>;
  tasks: Map<string, HiveTask>;
  logs: HiveLog[];
  /** Delay before each call takes effect and is answered (ms), e.g. `() => Math.random() * 5`. */
  latencyMs: ((call: { seq: number; method: string; path: string }) => number) | undefined;
  /** Calls for which this returns true are answered 500 before any effect. */
  fail: ((call: { seq: number; method: string; path: string }) => boolean) | undefined;
  tasksOf(caseId: string): HiveTask[];
  logsOf(taskId: string): HiveLog[];
  /** Creates a case as another client would (e.g. a run that died before recording it). */
  seedCase(input: z.input<typeof InputCase>): HiveCase;
  stop(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startTheHiveDouble(options: TheHiveDoubleOptions): Promise<TheHiveDouble> {
  let seq = 0;
  let nextId = 40_960;
  let caseNumber = 0;
  const calls: HiveCall[] = [];
  const cases = new Map<string, HiveCase>();
  const tasks = new Map<string, HiveTask>();
  const logs: HiveLog[] = [];
  const newId = () => `~${(nextId += 8)}`;

  function createCase(input: z.infer<typeof InputCase>): HiveCase {
    const created: HiveCase = {
      _id: newId(),
      _type: 'Case',
      _createdAt: Date.now(),
      number: ++caseNumber,
      title: input.title,
      description: input.description,
      severity: input.severity ?? 2,
      tlp: input.tlp ?? 2,
      pap: input.pap ?? 2,
      tags: input.tags ?? [],
      flag: input.flag ?? false,
      startDate: input.startDate ?? Date.now(),
      status: input.status ?? 'New',
    };
    cases.set(created._id, created);
    return created;
  }

  function caseOf(id: string): HiveCase {
    const found = cases.get(id);
    if (!found) throw new HttpError(404, 'NotFoundError', `Case ${id} not found`);
    return found;
  }

  function taskOf(id: string): HiveTask {
    const found = tasks.get(id);
    if (!found) throw new HttpError(404, 'NotFoundError', `Task ${id} not found`);
    return found;
  }

  function parse<T>(schema: z.ZodType<T>, body: unknown): T {
    const result = schema.safeParse(body);
    if (!result.success) {
      const unknownKeys = result.error.issues.some((i) => i.code === 'unrecognized_keys');
      throw new HttpError(400, unknownKeys ? 'BadRequest' : 'AttributeCheckError', result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
    }
    return result.data;
  }

  /** Applies one authenticated call; returns [status, body] and names the case/task it concerns. */
  function route(call: HiveCall, method: string, url: URL, body: unknown): [number, unknown] {
    const path = url.pathname;
    let m: RegExpMatchArray | null;
    if (method === 'POST' && path === '/api/v1/case') {
      const created = createCase(parse(InputCase, body));
      call.caseId = created._id;
      return [201, created];
    }
    if (method === 'PATCH' && (m = path.match(/^\/api\/v1\/case\/([^/]+)$/))) {
      const target = caseOf(decodeURIComponent(m[1]!));
      call.caseId = target._id;
      const update = parse(InputUpdateCase, body);
      Object.assign(target, update);
      return [204, undefined];
    }
    if (method === 'POST' && (m = path.match(/^\/api\/v1\/case\/([^/]+)\/task$/))) {
      const target = caseOf(decodeURIComponent(m[1]!));
      call.caseId = target._id;
      const input = parse(InputTask, body);
      const task: HiveTask = {
        _id: newId(),
        _type: 'Task',
        caseId: target._id,
        title: input.title,
        group: input.group ?? 'default',
        status: input.status ?? 'Waiting',
        flag: input.flag ?? false,
        order: input.order ?? 0,
        ...(input.startDate === undefined ? {} : { startDate: input.startDate }),
      };
      tasks.set(task._id, task);
      call.taskId = task._id;
      return [201, task];
    }
    if (method === 'POST' && (m = path.match(/^\/api\/v1\/task\/([^/]+)\/log$/))) {
      const task = taskOf(decodeURIComponent(m[1]!));
      call.caseId = task.caseId;
      call.taskId = task._id;
      const input = parse(InputTaskLog, body);
      const log: HiveLog = { _id: newId(), taskId: task._id, message: input.message, startDate: input.startDate ?? Date.now() };
      logs.push(log);
      return [201, log];
    }
    if (method === 'PATCH' && (m = path.match(/^\/api\/v1\/task\/([^/]+)$/))) {
      const task = taskOf(decodeURIComponent(m[1]!));
      call.caseId = task.caseId;
      call.taskId = task._id;
      Object.assign(task, parse(InputUpdateTask, body));
      return [204, undefined];
    }
    if (method === 'POST' && path === '/api/v1/query') {
      const query = parse(Query, body).query;
      const name = url.searchParams.get('name');
      const [first, second] = query;
      if (query.length === 2 && first?._name === 'listCase' && second?._name === 'filter') {
        const eq = z.strictObject({ _field: z.string(), _value: z.unknown() }).safeParse(second._eq);
        if (!eq.success) throw new HttpError(400, 'BadRequest', 'unsupported filter');
        return [200, [...cases.values()].filter((c) => eq.data._field === 'tags' && c.tags.includes(String(eq.data._value)))];
      }
      if (query.length === 2 && first?._name === 'getCase' && typeof first.idOrName === 'string' && second?._name === 'tasks') {
        const target = caseOf(first.idOrName);
        call.caseId = target._id;
        return [200, [...tasks.values()].filter((t) => t.caseId === target._id)];
      }
      throw new HttpError(400, 'BadRequest', `query ${name ?? ''} not supported by the double`);
    }
    throw new HttpError(404, 'NotFoundError', `${method} ${path} not found`);
  }

  const double: TheHiveDouble = {
    url: '',
    calls,
    cases,
    tasks,
    logs,
    latencyMs: undefined,
    fail: undefined,
    tasksOf: (caseId) => [...tasks.values()].filter((t) => t.caseId === caseId),
    logsOf: (taskId) => logs.filter((l) => l.taskId === taskId),
    seedCase: (input) => createCase(InputCase.parse(input)),
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', 'https://thehive.local');
    const method = request.method ?? 'GET';
    const text = Buffer.concat(chunks).toString('utf8');
    const call: HiveCall = { seq: ++seq, method, path: `${url.pathname}${url.search}`, status: 0, body: undefined };
    calls.push(call);
    const latency = double.latencyMs?.(call) ?? 0;
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    let status: number;
    let answer: unknown;
    try {
      if (request.headers.authorization !== `Bearer ${options.apiKey}`) throw new HttpError(401, 'AuthenticationError', 'Authentication failure');
      if (options.organisation !== undefined && request.headers['x-organisation'] !== options.organisation) {
        throw new HttpError(401, 'AuthenticationError', `User has no access to organisation ${String(request.headers['x-organisation'] ?? '(none)')}`);
      }
      if (double.fail?.(call)) throw new HttpError(500, 'InternalError', 'injected failure');
      let body: unknown;
      if (method === 'POST' || method === 'PATCH') {
        if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) throw new HttpError(400, 'BadRequest', 'Expecting application/json');
        try {
          body = JSON.parse(text);
        } catch {
          throw new HttpError(400, 'BadRequest', 'Invalid JSON');
        }
        call.body = body;
      }
      [status, answer] = route(call, method, url, body);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      status = error.status;
      answer = { type: error.type, message: error.message };
    }
    call.status = status;
    if (answer === undefined) {
      response.writeHead(status).end();
    } else {
      const out = JSON.stringify(answer);
      response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) }).end(out);
    }
  }

  const server = https.createServer(
    {
      cert: readFileSync(join(certsDir, options.cert ?? 'broker.pem')),
      key: readFileSync(join(certsDir, options.key ?? 'broker-key.pem')),
    },
    (request, response) => {
      handle(request, response).catch((error: unknown) => {
        response.writeHead(500).end(String(error));
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  double.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return double;
}
