/**
 * # sandbox: detonate a malware sample
 *
 * The CAF guide's sixth use case: on a Malware Sample artifact (an
 * attachment artifact, holding a file) the analyst clicks **Detonate in
 * Sandbox**. The processor downloads the file from the platform, submits it
 * to the sandbox, waits for the analysis, and writes the verdict into the
 * artifact's description:
 *
 * ```text
 * [sandbox]
 * Verdict: malicious (score 92)
 * Report: https://sandbox.example.com/reports/8812
 * Submission 8812 of sample.exe (24 bytes, SHA-256 9f86d0…)
 * [/sandbox]
 * ```
 *
 * - Download: `GET /incidents/{inc}/artifacts/{id}/contents` (bytes, via
 *   `ctx.rest.getBytes`). It is checked against the SHA-256 the platform shows, when it shows one.
 * - Submit: `POST <url>/api/submissions` `{filename, content_base64}` → `{id}`
 *   ("Submitted sample.exe to the sandbox as 8812").
 * - Poll: `GET <url>/api/submissions/<id>` every `poll_ms` until `status` is
 *   `done` (`{verdict, score, report_url}`) or `failed` (`{error}`). A progress
 *   message goes out every `progress_ms` ("Still analysing (30 s)…"). Up to
 *   two failed polls in a row are tolerated, as analyses run for minutes and
 *   one network blip should not lose them.
 * - Gives up after `deadline_ms` with an error naming the submission, so the
 *   analyst can find the report in the sandbox later.
 * - The description keeps the analyst's text; running again replaces the
 *   block (through `ctx.rest.getPut`).
 * - Results: `{submission_id, verdict, score, report_url, sha256}`.
 * - Destination `sandbox`; platform objects in `destinations/sandbox.yaml`
 *   (manual, on Malware Sample artifacts).
 *
 * Settings (`settings.sandbox`):
 *
 * ```yaml
 * sandbox:
 *   url: https://sandbox.example.com
 *   token: ${SANDBOX_TOKEN}
 *   poll_ms: 5000          # default
 *   progress_ms: 30000     # default
 *   deadline_ms: 900000    # 15 min (default)
 *   max_bytes: 33554432    # 32 MiB (default)
 *   timeout_ms: 30000      # per call
 * ```
 *
 * Mind the runtime's `handler_timeout_ms`: when it is set, it must be longer
 * than `deadline_ms`.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ActionError, defineProcessor } from '../../lib/index.js';
import { artifactOf } from '../_shared/action-objects.js';
import { withBlock, type Description } from '../_shared/description-block.js';
import { externalApi, externalApiSettings } from '../_shared/http.js';

const settings = z.object({
  ...externalApiSettings,
  timeout_ms: z.number().int().positive().default(30_000),
  poll_ms: z.number().int().positive().default(5_000),
  progress_ms: z.number().int().positive().default(30_000),
  deadline_ms: z.number().int().positive().default(15 * 60_000),
  max_bytes: z.number().int().positive().default(32 * 1024 * 1024),
});

/** The tag of the block this processor owns in an artifact's description. */
export const BLOCK_TAG = 'sandbox';
const POLL_FAILURES_TOLERATED = 2;

const SubmissionSchema = z.looseObject({ id: z.union([z.string().min(1), z.number()]).transform(String) });
const StatusSchema = z.looseObject({
  status: z.string(),
  verdict: z.string().optional(),
  score: z.number().optional(),
  report_url: z.string().optional(),
  error: z.string().optional(),
});

interface Artifact {
  id: number;
  type: number;
  value: string;
  description: Description;
  attachment: { name: string; size?: number; sha256?: string } | null;
  [extra: string]: unknown;
}

export default defineProcessor({
  name: 'sandbox',
  destination: 'sandbox',
  settings,
  actions: {
    'Detonate in Sandbox': async (message, ctx) => {
      const { id, incidentId } = artifactOf(message);
      const artifactPath = `/incidents/${incidentId}/artifacts/${id}`;
      const s = ctx.settings;

      const artifact = await ctx.rest.get<Artifact>(artifactPath, { signal: ctx.signal });
      if (!artifact.attachment) {
        throw new ActionError(`artifact ${id} (${ctx.label('artifact', 'type', artifact.type) ?? `type ${artifact.type}`} ${JSON.stringify(artifact.value)}) holds no file to detonate`);
      }
      const filename = artifact.attachment.name || artifact.value;
      if ((artifact.attachment.size ?? 0) > s.max_bytes) throw tooBig(filename, artifact.attachment.size!, s.max_bytes);

      await ctx.progress(`Downloading ${filename} from the platform`);
      const bytes = await ctx.rest.getBytes(`${artifactPath}/contents`, { signal: ctx.signal });
      if (bytes.length > s.max_bytes) throw tooBig(filename, bytes.length, s.max_bytes);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const expected = artifact.attachment.sha256?.toLowerCase();
      if (expected && expected !== sha256) throw new ActionError(`the content downloaded for ${filename} does not match its SHA-256 on the platform (${expected}); not submitted`);

      const sandbox = externalApi('sandbox', s, ctx.signal);
      const submission = await sandbox.json('POST', '/api/submissions', {
        body: { filename, content_base64: bytes.toString('base64') },
        what: `the submission of ${filename}`,
        schema: SubmissionSchema,
      });
      await ctx.progress(`Submitted ${filename} to the sandbox as ${submission.id}`);

      const started = Date.now();
      const deadline = started + s.deadline_ms;
      let lastProgress = started;
      let last = 'submitted';
      let failures = 0;
      for (;;) {
        const wait = Math.min(s.poll_ms, deadline - Date.now());
        if (wait <= 0) {
          throw new ActionError(`${sandbox.where} did not finish analysing ${filename} within ${seconds(s.deadline_ms)} (submission ${submission.id}, last status: ${last})`);
        }
        try {
          await sleep(wait, undefined, { signal: ctx.signal });
        } catch {
          throw new ActionError(`${sandbox.where}: waiting for submission ${submission.id} was abandoned because the action was cancelled`);
        }
        let status: z.infer<typeof StatusSchema>;
        try {
          status = await sandbox.json('GET', `/api/submissions/${encodeURIComponent(submission.id)}`, { what: `the status of submission ${submission.id}`, schema: StatusSchema });
          failures = 0;
        } catch (error) {
          if (ctx.signal.aborted || ++failures > POLL_FAILURES_TOLERATED) throw error;
          ctx.log.warn('sandbox poll failed; trying again', { submission: submission.id, error: (error as Error).message });
          continue;
        }
        last = status.status;
        if (status.status === 'failed') throw new ActionError(`${sandbox.where} could not analyse ${filename} (submission ${submission.id}): ${status.error ?? 'no reason given'}`);
        if (status.status === 'done') return finish(status, submission.id);
        if (Date.now() - lastProgress >= s.progress_ms) {
          lastProgress = Date.now();
          await ctx.progress(`Still analysing (${Math.round((lastProgress - started) / 1000)} s)…`);
        }
      }

      async function finish(status: z.infer<typeof StatusSchema>, submissionId: string) {
        if (status.verdict === undefined) throw new ActionError(`${sandbox.where} finished submission ${submissionId} without a verdict`);
        const score = status.score ?? null;
        const reportUrl = status.report_url ?? null;
        const block = [
          `Verdict: ${status.verdict}${score === null ? '' : ` (score ${score})`}`,
          ...(reportUrl ? [`Report: ${reportUrl}`] : []),
          `Submission ${submissionId} of ${filename} (${bytes.length} bytes, SHA-256 ${sha256})`,
        ].join('\n');
        await ctx.rest.getPut<Artifact>(
          artifactPath,
          (current) => {
            const description = withBlock(current.description, BLOCK_TAG, block);
            return description === undefined ? undefined : { ...current, description };
          },
          { signal: ctx.signal },
        );
        return {
          message: `${filename} is ${status.verdict}${score === null ? '' : ` (score ${score})`}${reportUrl ? `: ${reportUrl}` : ''}`,
          results: { submission_id: submissionId, verdict: status.verdict, score, report_url: reportUrl, sha256 },
        };
      }
    },
  },
});

function tooBig(filename: string, size: number, max: number): ActionError {
  return new ActionError(`${filename} is ${size} bytes, more than the ${max} bytes the sandbox processor sends (max_bytes)`);
}

/** "15 min" for whole minutes, else "90 s", or "500 ms" below ten seconds. */
function seconds(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms < 10_000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}
