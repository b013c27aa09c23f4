import type { Log } from '../log/log.js';
import { FileActivityStore } from './file-store.js';
import type { SqlActivityStore } from './sql-store.js';
import type { ActivityStore } from './store.js';

/**
 * Gives each activity file the records the reply store has and the file
 * missed, at start-up.
 *
 * With durable replies, every record is committed to the reply store (SQL)
 * with its reply, before the ack. The other stores get it from the
 * reporter's in-memory queue, so a process killed with `kill -9` leaves
 * them without the last records of its chain. One process at a time owns a
 * home (the instance lock), so the chain that was cut short is the chain of
 * the file's last record: its records after that one are copied from the
 * reply store, in order. A chain none of whose records reached the file
 * before the kill is not found this way, and neither is a file shared by
 * several homes (each would be told of the other's chains), so only the
 * file's own last chain is read.
 *
 * Resolves to the number of records copied.
 */
export async function backfillFromReplyStore(source: SqlActivityStore, stores: readonly ActivityStore[], log: Log): Promise<number> {
  let copied = 0;
  for (const store of stores) {
    if (!(store instanceof FileActivityStore)) continue;
    const tail = await store.tailRecord();
    if (!tail) continue;
    let count = 0;
    for await (const record of source.recordsAfter(tail.chain_id, tail.seq)) {
      await store.append(record);
      store.markComplete(record.chain_id, record.seq);
      count++;
    }
    if (count > 0) {
      log.warn('activity file lacked the last records of the previous run (it stopped without draining); copied them from the reply store', {
        file: store.path, chain: tail.chain_id, after_seq: tail.seq, records: count, from: source.name,
      });
    }
    copied += count;
  }
  return copied;
}
