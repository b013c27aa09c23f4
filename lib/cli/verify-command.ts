import path from 'node:path';
import { defaultKeyringDir, openKeyring } from '../activity/keyring.js';
import { readJsonl } from '../activity/jsonl-reader.js';
import { openActivityStore } from '../activity/sql-store.js';
import { verifyRecords, type VerifyReport } from '../activity/verify.js';

/**
 * `cafkit verify <file | db url>`: checks every stored activity record's
 * signature and chain, and lists the ones altered, removed from the middle
 * of a chain, or signed by a key the keyring does not know.
 */
export async function verifyCommand(target: string, options: { keys?: string; pruned?: boolean }): Promise<VerifyReport> {
  const keyring = openKeyring(options.keys ? path.resolve(options.keys) : defaultKeyringDir(), { create: false });
  if (/^(sqlite:|mysql:\/\/|mariadb:\/\/)/.test(target) || /\.(db|sqlite3?)$/.test(target)) {
    const store = await openActivityStore(target.includes(':') ? target : `sqlite:${target}`);
    try {
      return await verifyRecords(store.read(), keyring, { startMayBePruned: options.pruned });
    } finally {
      await store.close();
    }
  }
  const file = target.startsWith('file:') ? target.slice('file:'.length) : target;
  return verifyRecords(readJsonl(file), keyring, { startMayBePruned: options.pruned });
}

/** A report for people: one line per problem, then a summary. */
export function formatReport(target: string, report: VerifyReport): string {
  const lines = report.problems.map((p) => `${p.kind.toUpperCase().padEnd(15)} chain ${p.chain_id} seq ${p.seq ?? '?'} (record ${p.id ?? '?'}): ${p.detail}`);
  const clean = report.problems.length === 0;
  lines.push(`${target}: ${report.checked} records in ${report.chains.length} chain(s); ${clean ? 'all verified' : `${report.ok} verified, ${report.problems.length} problem(s)`}`);
  return lines.join('\n');
}
