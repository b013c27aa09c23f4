import { createHash, sign as cryptoSign } from 'node:crypto';
import { canonicalJson, canonicalMember, canonicalMembers, joinMembers, withMember } from './canonical-json.js';
import type { Keyring } from './keyring.js';
import { ActivityRecordSchema, type ActivityRecord, type UnsignedActivity } from './record.js';

/** Where a {@link ChainSigner} starts. */
export interface ChainSignerOptions {
  /** The chain to extend (one per signing processor instance). */
  chainId: string;
  /** The last stored record of that chain, to resume it after a restart; omitted for a new chain. */
  lastRecord?: ActivityRecord;
}

/** SHA-256 (hex) of a record's canonical JSON, signature included: the next record's `prev_hash`. */
export function recordHash(record: ActivityRecord): string {
  return createHash('sha256').update(canonicalJson(record)).digest('hex');
}

/** The bytes a record's signature covers: its canonical JSON without `signature`. */
export function signedBytes(record: Omit<ActivityRecord, 'signature'> & { signature?: string }): Buffer {
  const { signature: _signature, ...body } = record;
  return Buffer.from(canonicalJson(body), 'utf8');
}

/** The canonical JSON each record was signed as, kept so stores write those bytes without serialising again. */
const signedText = new WeakMap<ActivityRecord, string>();

/**
 * The canonical JSON of `record`, signature included: for a record this
 * process signed, exactly the text it signed (computed once, at signing);
 * otherwise computed now. What stores write. Verification never uses it:
 * it must see the record as it is.
 */
export function canonicalRecordText(record: ActivityRecord): string {
  return signedText.get(record) ?? canonicalJson(record);
}

/**
 * Chains and signs activity records as `record.ts` specifies: `seq` counts
 * from 1, `prev_hash` is the hash of the previous record of the chain (null
 * for the first), `key_id` names the keyring's active key, and `signature`
 * is ECDSA P-256 / SHA-256 (IEEE P1363, base64) over the canonical JSON of the
 * record without `signature`.
 *
 * Synchronous, so records are signed in the order they are produced, with no
 * interleaving; one instance per chain, and one chain per process.
 *
 * @example
 * const signer = new ChainSigner(openKeyring(), { chainId, lastRecord: await lastStored(chainId) });
 * await store.append(signer.sign(unsigned));
 */
export class ChainSigner {
  readonly chainId: string;
  private lastSeq: number;
  private lastHash: string | null;

  constructor(
    private readonly keyring: Pick<Keyring, 'active'>,
    options: ChainSignerOptions,
  ) {
    const { chainId, lastRecord } = options;
    if (lastRecord && lastRecord.chain_id !== chainId) {
      throw new Error(`cannot resume chain ${chainId} from a record of chain ${lastRecord.chain_id} (seq ${lastRecord.seq})`);
    }
    this.chainId = chainId;
    this.lastSeq = lastRecord?.seq ?? 0;
    this.lastHash = lastRecord ? recordHash(lastRecord) : null;
  }

  /** The `seq` of the last record signed (or resumed from); 0 for a new chain. */
  get seq(): number {
    return this.lastSeq;
  }

  /**
   * Returns the record with `seq`, `chain_id`, `prev_hash`, `key_id` and
   * `signature` set. The result is a copy: changing `unsigned` afterwards
   * does not change what was signed.
   *
   * @throws {Error} `unsigned` does not fit the record schema (it would be
   * stored, then reported `invalid` by every verification); the chain does not advance.
   */
  sign(unsigned: UnsignedActivity): ActivityRecord {
    const { keyId, privateKey } = this.keyring.active();
    const body: Omit<ActivityRecord, 'signature'> = {
      ...withoutChainFields(unsigned),
      seq: this.lastSeq + 1,
      chain_id: this.chainId,
      prev_hash: this.lastHash,
      key_id: keyId,
    };
    const checked = ActivityRecordSchema.safeParse({ ...body, signature: '' });
    if (!checked.success) {
      throw new Error(`activity record ${unsigned.id} does not fit the record schema: ${checked.error.message}`);
    }
    // Serialised once: the signed bytes, and the stored text with the signature member added in its place.
    const members = canonicalMembers(body);
    const signature = cryptoSign('sha256', Buffer.from(joinMembers(members), 'utf8'), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64');
    const text = joinMembers(withMember(members, canonicalMember('signature', signature)));
    // Parsed back from the signed text: a copy detached from the caller's objects, holding exactly what was signed.
    const record = JSON.parse(text) as ActivityRecord;
    signedText.set(record, text);
    // Advance only once the record exists: a failed sign leaves no gap in seq.
    this.lastSeq = record.seq;
    this.lastHash = createHash('sha256').update(text).digest('hex');
    return record;
  }
}

/** A caller may hand in a record read back from a store; its old chain fields must not leak into the new one. */
function withoutChainFields(unsigned: UnsignedActivity): UnsignedActivity {
  const { seq: _seq, chain_id: _chainId, prev_hash: _prevHash, key_id: _keyId, signature: _signature, ...rest } =
    unsigned as UnsignedActivity & Partial<Pick<ActivityRecord, 'seq' | 'chain_id' | 'prev_hash' | 'key_id' | 'signature'>>;
  return rest;
}
