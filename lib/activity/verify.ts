import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ActivityRecordSchema, type ActivityRecord } from './record.js';
import { recordHash, signedBytes } from './signer.js';

/**
 * What is wrong with a record:
 * - `altered`: the signature is well formed but does not match the content (a field was changed);
 * - `bad_signature`: the signature is not a base64 P-256 signature at all;
 * - `unknown_key`: no public key for `key_id`, so the record cannot be checked;
 * - `missing_before`: records of the chain are missing just before this one (removed, or in files not read);
 * - `out_of_order`: the chain already went past this `seq` (moved, or a duplicate);
 * - `invalid`: not a record (not JSON, schema failure).
 */
export type ProblemKind = 'altered' | 'bad_signature' | 'unknown_key' | 'missing_before' | 'out_of_order' | 'invalid';

/** One problem; `seq`, `chain_id` and `id` are null when the input did not carry them. */
export interface VerifyProblem {
  seq: number | null;
  chain_id: string | null;
  id: string | null;
  kind: ProblemKind;
  detail: string;
}

/** The end of one chain as read: compare `last_seq`/`last_hash` with an external anchor to detect a removed tail. */
export interface ChainSummary {
  chain_id: string;
  /** Records read for this chain, verified or not. */
  records: number;
  /** First and last verified `seq`, and the hash of the last verified record; null if none verified. */
  first_seq: number | null;
  last_seq: number | null;
  last_hash: string | null;
}

/** The outcome of {@link verifyRecords}. */
export interface VerifyReport {
  /** Items read (records and unreadable lines). */
  checked: number;
  /** Records with no problem. */
  ok: number;
  problems: VerifyProblem[];
  /** One per chain seen, by chain id. */
  chains: ChainSummary[];
}

/** How strict {@link verifyRecords} is. */
export interface VerifyOptions {
  /**
   * Accept chains whose first record read is not seq 1, for logs whose
   * oldest files are deleted by retention (the file store keeps `keep`
   * rotated files). Off by default: removing a chain's first records looks
   * the same as retention.
   */
  startMayBePruned?: boolean;
}

/** Where verification finds public keys; a `Keyring` is one. */
export interface PublicKeyLookup {
  publicKey(keyId: string): KeyObject | undefined;
}

/**
 * An input item that could not be read as a record (a line that is not
 * JSON, an object that is not a record). Readers yield it instead of
 * throwing, so that verification reports it as `invalid` and goes on.
 */
export class UnreadableRecord {
  constructor(
    /** Where it was read, e.g. `activities.jsonl.1:17`. */
    readonly where: string,
    readonly reason: string,
    /** Identifying fields, when the item had them. */
    readonly seen: { seq?: number; chain_id?: string; id?: string } = {},
  ) {}
}

interface ChainState {
  records: number;
  /** The last record whose signature verified: only its seq and hash can be trusted. */
  trustedSeq: number;
  trustedHash: string | null;
  firstTrustedSeq: number | null;
  /** Records since the trusted one that could not be checked (altered, unknown key, invalid): their seq may be forged, so they only fill gaps. */
  untrustedSince: number;
}

/**
 * Checks signatures and chain links of activity records, as the signer made
 * them (see `record.ts`). Records are expected in `seq` order within each
 * chain, as `ActivityStore.read()` and the JSON Lines file give them; chains
 * may be interleaved. Streams: memory grows with the number of chains, not
 * of records.
 *
 * Detected: a changed field (`altered`), a removed or replaced record in the
 * middle or at the start of a chain (`missing_before` on the record after
 * it), an unknown key, moved or duplicated records, unreadable items.
 *
 * Not detectable from the records alone: removing the LAST records of a
 * chain, since nothing after them points back. Only an external anchor
 * (the last `seq` and hash, sent elsewhere, e.g. to syslog) shows it: compare
 * it with `report.chains`.
 *
 * @example
 * const report = await verifyRecords(readJsonl('activities.jsonl'), openKeyring(dir, { create: false }));
 * if (report.problems.length) console.table(report.problems);
 */
export async function verifyRecords(
  records: AsyncIterable<ActivityRecord | UnreadableRecord> | Iterable<ActivityRecord | UnreadableRecord>,
  keys: PublicKeyLookup,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const report: VerifyReport = { checked: 0, ok: 0, problems: [], chains: [] };
  const chains = new Map<string, ChainState>();
  const keyCache = new Map<string, KeyObject | string>();

  const lookupKey = (keyId: string): KeyObject | string => {
    let found = keyCache.get(keyId);
    if (found === undefined) {
      try {
        found = keys.publicKey(keyId) ?? `no public key ${keyId}`;
      } catch (error) {
        found = `public key ${keyId} unusable: ${(error as Error).message}`;
      }
      keyCache.set(keyId, found);
    }
    return found;
  };

  for await (const item of records) {
    report.checked++;
    const before = report.problems.length;
    if (item instanceof UnreadableRecord) {
      report.problems.push({ ...identity(item.seen), kind: 'invalid', detail: `${item.where}: ${item.reason}` });
      if (item.seen.chain_id !== undefined) untrusted(chains, item.seen.chain_id);
      continue;
    }
    const problem = (kind: ProblemKind, detail: string) => report.problems.push({ ...identity(item), kind, detail });

    const parsed = ActivityRecordSchema.safeParse(item);
    let hash: string | undefined;
    if (parsed.success) {
      try {
        hash = recordHash(item);
      } catch (error) {
        problem('invalid', (error as Error).message);
      }
    } else {
      problem('invalid', `not an activity record: ${summariseIssues(parsed.error.issues)}`);
    }
    if (hash === undefined || !checkSignature(item, lookupKey, problem)) {
      // It still fills a place in its chain: the record after it is not also reported as following a gap.
      const { chain_id } = identity(item);
      if (chain_id !== null) untrusted(chains, chain_id);
      continue;
    }

    const state = chains.get(item.chain_id) ?? untrusted(chains, item.chain_id, 0);
    const gap = item.seq - state.trustedSeq - 1;
    if (item.seq <= state.trustedSeq) {
      problem(
        'out_of_order',
        item.seq === state.trustedSeq && hash === state.trustedHash
          ? `seq ${item.seq} appears twice (identical copies)`
          : `seq ${item.seq} read after seq ${state.trustedSeq} of the same chain`,
      );
      state.records++;
      continue;
    }
    const pruned = options.startMayBePruned === true && state.trustedSeq === 0;
    if (gap > state.untrustedSince && !pruned) {
      const after = state.trustedSeq === 0 ? `is the first verified record of chain ${item.chain_id}` : `follows seq ${state.trustedSeq}`;
      const unverifiable = state.untrustedSince ? `, ${state.untrustedSince} unverifiable record(s) between` : '';
      problem('missing_before', `seq ${item.seq} ${after}: ${range(state.trustedSeq + 1, item.seq - 1)} missing${unverifiable} (removed, or in files not read)`);
    } else if (gap === 0 && item.prev_hash !== state.trustedHash) {
      problem(
        'missing_before',
        state.trustedSeq === 0
          ? `seq 1 has a prev_hash: it was chained to a record that is not part of this chain`
          : `prev_hash does not match the stored seq ${state.trustedSeq}: the record seq ${item.seq} was chained to was removed or replaced`,
      );
    }
    state.records++;
    state.trustedSeq = item.seq;
    state.trustedHash = hash;
    state.firstTrustedSeq ??= item.seq;
    state.untrustedSince = 0;
    if (report.problems.length === before) report.ok++;
  }

  report.chains = [...chains.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([chain_id, s]) => ({ chain_id, records: s.records, first_seq: s.firstTrustedSeq, last_seq: s.trustedSeq || null, last_hash: s.trustedHash }));
  return report;
}

const SIGNATURE = /^[A-Za-z0-9+/]{86}==$/; // 64 bytes (r ‖ s, IEEE P1363) in base64

function checkSignature(
  record: ActivityRecord,
  lookupKey: (keyId: string) => KeyObject | string,
  problem: (kind: ProblemKind, detail: string) => void,
): boolean {
  if (!SIGNATURE.test(record.signature)) {
    problem('bad_signature', 'signature is not a base64 P-256 signature (64 bytes, IEEE P1363)');
    return false;
  }
  const key = lookupKey(record.key_id);
  if (typeof key === 'string') {
    problem('unknown_key', `${key}: cannot check this record`);
    return false;
  }
  const valid = cryptoVerify('sha256', signedBytes(record), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(record.signature, 'base64'));
  if (!valid) problem('altered', `signature by key ${record.key_id.slice(0, 12)}… does not match the content: the record was changed after signing`);
  return valid;
}

/** The chain's state, counting one more record that could not be verified (none with `count` 0). */
function untrusted(chains: Map<string, ChainState>, chainId: string, count = 1): ChainState {
  let state = chains.get(chainId);
  if (!state) {
    state = { records: 0, trustedSeq: 0, trustedHash: null, firstTrustedSeq: null, untrustedSince: 0 };
    chains.set(chainId, state);
  }
  state.records += count;
  state.untrustedSince += count;
  return state;
}

/** seq, chain_id and id of anything record-like, for naming it in a problem. */
function identity(item: unknown): Pick<VerifyProblem, 'seq' | 'chain_id' | 'id'> {
  const o = (item !== null && typeof item === 'object' ? item : {}) as Record<string, unknown>;
  return {
    seq: Number.isSafeInteger(o['seq']) ? (o['seq'] as number) : null,
    chain_id: typeof o['chain_id'] === 'string' ? o['chain_id'] : null,
    id: typeof o['id'] === 'string' ? o['id'] : null,
  };
}

function range(from: number, to: number): string {
  const count = to - from + 1;
  return from === to ? `1 record (seq ${from})` : `${count} records (seq ${from}–${to})`;
}

function summariseIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  const shown = issues.slice(0, 3).map((issue) => `${issue.path.map(String).join('.') || '(record)'}: ${issue.message}`);
  return shown.join('; ') + (issues.length > 3 ? `; and ${issues.length - 3} more` : '');
}
