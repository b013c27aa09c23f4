import { createHash } from 'node:crypto';
import { FakeApi } from './fake-api.js';

/** A submission in the fake sandbox. */
export interface SandboxSubmission {
  id: string;
  filename: string;
  sha256: string;
  size: number;
  /** Polls answered so far. */
  polls: number;
}

/** What the fake sandbox decides about a file. */
export interface SandboxBehaviour {
  /** Polls answered `running` before `done` (default 2). `Infinity`: never finishes. */
  pollsUntilDone: number;
  /** The verdict for a file (default: malicious for anything starting with "MZ"). */
  verdict(bytes: Buffer): { verdict: 'malicious' | 'clean'; score: number };
  /** `failed` instead of `done`, with this error. */
  fail?: string;
}

/**
 * A fake malware sandbox: `POST /api/submissions` `{filename,
 * content_base64}` → 201 `{id}`; `GET /api/submissions/:id` → `{id,
 * status: 'queued'|'running'|'done'|'failed', verdict?, score?,
 * report_url?, error?}`.
 */
export async function startSandbox(): Promise<FakeApi & { submissions: SandboxSubmission[]; behaviour: SandboxBehaviour; contents: Map<string, Buffer> }> {
  const submissions: SandboxSubmission[] = [];
  const contents = new Map<string, Buffer>();
  const behaviour: SandboxBehaviour = {
    pollsUntilDone: 2,
    verdict: (bytes) => (bytes.subarray(0, 2).toString('latin1') === 'MZ' ? { verdict: 'malicious', score: 92 } : { verdict: 'clean', score: 3 }),
  };
  const api = await FakeApi.start('sandbox', [
    {
      method: 'POST',
      path: '/api/submissions',
      required: ['filename', 'content_base64'],
      handle: ({ body }) => {
        const b = body as Record<string, unknown>;
        const encoded = String(b['content_base64']);
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return { status: 400, body: { error: 'content_base64 is not base64' } };
        const bytes = Buffer.from(encoded, 'base64');
        const id = `sub-${submissions.length + 1}`;
        submissions.push({ id, filename: String(b['filename']), sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, polls: 0 });
        contents.set(id, bytes);
        return { status: 201, body: { id } };
      },
    },
    {
      method: 'GET',
      path: '/api/submissions/:id',
      handle: ({ params }) => {
        const submission = submissions.find((s) => s.id === params['id']);
        if (!submission) return { status: 404, body: { error: `no submission ${params['id']}` } };
        submission.polls++;
        if (submission.polls <= behaviour.pollsUntilDone) return { body: { id: submission.id, status: submission.polls === 1 ? 'queued' : 'running' } };
        if (behaviour.fail) return { body: { id: submission.id, status: 'failed', error: behaviour.fail } };
        const { verdict, score } = behaviour.verdict(contents.get(submission.id)!);
        return { body: { id: submission.id, status: 'done', verdict, score, report_url: `${api.url}/reports/${submission.id}` } };
      },
    },
  ]);
  return Object.assign(api, { submissions, behaviour, contents });
}
