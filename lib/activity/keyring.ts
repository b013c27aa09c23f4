import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A key folder that cannot be used as it is; the message says what to do. */
export class KeyringError extends Error {
  override name = 'KeyringError';
}

/** The key records are signed with now. */
export interface ActiveKey {
  /** SHA-256 (hex) of the public key's SPKI DER: the `key_id` of the records it signs. */
  readonly keyId: string;
  readonly privateKey: KeyObject;
}

/** How {@link openKeyring} treats a folder without an active private key. */
export interface OpenKeyringOptions {
  /**
   * - omitted: make a key only on a first run (no public key in the folder yet);
   *   a folder that has public keys but lost `active.pem` is an error, since a
   *   silent new key would hide that the old one went missing.
   * - `true`: make a new active key whenever there is none (old public keys stay).
   * - `false`: never make one; the keyring can still verify (`publicKey`), and
   *   `active()` throws. For `cafkit verify` and other readers.
   */
  create?: boolean;
}

const ACTIVE_FILE = 'active.pem';
const PUBLIC_DIR = 'public';
const KEY_ID = /^[0-9a-f]{64}$/;

/**
 * Where keys live unless configured: `<CAFKIT_HOME>/keys`, or `.cafkit/keys`
 * in the package folder (git-ignored).
 */
export function defaultKeyringDir(env: NodeJS.ProcessEnv = process.env): string {
  // Computed here rather than imported from lib/cli: the activity core must not depend on the CLI edge.
  const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  return path.join(env['CAFKIT_HOME'] ?? path.join(packageRoot, '.cafkit'), 'keys');
}

/** SHA-256 (hex) of a public key's SPKI DER encoding. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/**
 * The signing keys of one processor installation, kept in a folder:
 *
 * ```
 * keys/                 0700
 *   active.pem          0600  PKCS#8 private key (P-256) records are signed with now
 *   public/<key_id>.pem       SPKI public key of every key ever active, so old records stay verifiable
 * ```
 *
 * Open it with {@link openKeyring}.
 */
export class Keyring {
  private activeKey: ActiveKey | undefined;
  private readonly publicKeys = new Map<string, KeyObject>();

  /** @internal use {@link openKeyring} */
  constructor(
    /** The key folder. */
    readonly dir: string,
    active: ActiveKey | undefined,
  ) {
    this.activeKey = active;
    if (active) this.publicKeys.set(active.keyId, createPublicKey(active.privateKey));
  }

  /**
   * The key to sign with now. Read it at every signature: {@link rotate} replaces it.
   * @throws {KeyringError} the keyring was opened with `create: false` and has no active key.
   */
  active(): ActiveKey {
    if (!this.activeKey) {
      throw new KeyringError(`no active signing key in ${this.dir}: run \`cafkit keys rotate\` to make one`);
    }
    return this.activeKey;
  }

  /**
   * The public key of a key id, from `public/<key_id>.pem`; `undefined` when
   * the folder has no such key. Read from disk on first use, so a key another
   * process rotated in is found.
   */
  publicKey(keyId: string): KeyObject | undefined {
    const known = this.publicKeys.get(keyId);
    if (known) return known;
    // The id becomes a file name: only accept what a key id looks like.
    if (!KEY_ID.test(keyId)) return undefined;
    const file = path.join(this.dir, PUBLIC_DIR, `${keyId}.pem`);
    if (!existsSync(file)) return undefined;
    const key = createPublicKey(readFileSync(file));
    // A file renamed to another key's id must not vouch for that key's records.
    if (keyIdOf(key) !== keyId) throw new KeyringError(`${file} holds key ${keyIdOf(key)}, not ${keyId}`);
    this.publicKeys.set(keyId, key);
    return key;
  }

  /** Ids of every public key in the folder, the active one included. */
  keyIds(): string[] {
    return listKeyIds(this.dir);
  }

  /**
   * Makes a new active key. The old public key stays in `public/` so records
   * it signed still verify; the old private key is overwritten, so a leaked
   * copy of the folder taken afterwards cannot sign as it.
   *
   * @returns the new key id.
   * @example
   * const keyring = openKeyring(defaultKeyringDir());
   * const newId = keyring.rotate();
   */
  rotate(): string {
    const key = generateKey();
    // Public key first: a record signed with the new key is verifiable from the moment it exists.
    writePublicKey(this.dir, key);
    const temp = writePrivateKeyTemp(this.dir, key);
    // rename() replaces active.pem in one step: a crash leaves the old key or the new, never half a file.
    renameSync(temp, path.join(this.dir, ACTIVE_FILE));
    this.activeKey = key;
    this.publicKeys.set(key.keyId, createPublicKey(key.privateKey));
    return key.keyId;
  }
}

/**
 * Opens (or, on a first run, creates) the key folder `dir`.
 *
 * @throws {KeyringError} `active.pem` is readable by group or others; it is
 * missing while `public/` holds keys (a lost key is not replaced silently:
 * run `cafkit keys rotate` or pass `create: true`); it is not a P-256 key.
 *
 * @example
 * const keyring = openKeyring(defaultKeyringDir());
 * const signer = new ChainSigner(keyring, { chainId });
 */
export function openKeyring(dir: string = defaultKeyringDir(), options: OpenKeyringOptions = {}): Keyring {
  const activeFile = path.join(dir, ACTIVE_FILE);
  if (existsSync(activeFile)) {
    const active = readActiveKey(activeFile);
    // Every key that ever signed must stay verifiable; restore its public half if someone removed it.
    if (options.create !== false) writePublicKey(dir, active);
    return new Keyring(dir, active);
  }
  const firstRun = listKeyIds(dir).length === 0;
  if (options.create === false) {
    if (firstRun) throw new KeyringError(`no signing keys in ${dir}`);
    return new Keyring(dir, undefined);
  }
  if (!firstRun && options.create !== true) {
    throw new KeyringError(
      `${dir} has public keys but no ${ACTIVE_FILE}: the signing key is missing. ` +
        'Run `cafkit keys rotate` to make a new one (older records stay verifiable), or open the keyring with create: true.',
    );
  }
  return new Keyring(dir, createActiveKey(dir));
}

function listKeyIds(dir: string): string[] {
  const publicDir = path.join(dir, PUBLIC_DIR);
  if (!existsSync(publicDir)) return [];
  return readdirSync(publicDir)
    .filter((name) => name.endsWith('.pem') && KEY_ID.test(name.slice(0, -4)))
    .map((name) => name.slice(0, -4))
    .sort();
}

function generateKey(): ActiveKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { keyId: keyIdOf(publicKey), privateKey };
}

/** Makes the first active key; if another process made one meanwhile, uses that one. */
function createActiveKey(dir: string): ActiveKey {
  const key = generateKey();
  writePublicKey(dir, key);
  const temp = writePrivateKeyTemp(dir, key);
  const activeFile = path.join(dir, ACTIVE_FILE);
  try {
    // link() fails if active.pem exists: two processes starting together agree on one key.
    linkSync(temp, activeFile);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readActiveKey(activeFile);
  } finally {
    unlinkSync(temp);
  }
}

function readActiveKey(file: string): ActiveKey {
  if (process.platform !== 'win32') {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new KeyringError(
        `${file} has mode ${mode.toString(8).padStart(4, '0')}: a signing key must be readable by its owner only. ` +
          `Run \`chmod 600 ${file}\`, and rotate the key if others may have read it.`,
      );
    }
  }
  const privateKey = createPrivateKey(readFileSync(file));
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new KeyringError(`${file} is not an ECDSA P-256 private key`);
  }
  return { keyId: keyIdOf(createPublicKey(privateKey)), privateKey };
}

function writePrivateKeyTemp(dir: string, key: ActiveKey): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode only applies to folders it creates; a pre-existing key folder is tightened too.
  chmodSync(dir, 0o700);
  const temp = path.join(dir, `.${ACTIVE_FILE}.${process.pid}.${Date.now()}.tmp`);
  // 'wx' creates the file with mode 0600 from the start: the key is never briefly world-readable.
  writeFileSync(temp, key.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  chmodSync(temp, 0o600);
  return temp;
}

function writePublicKey(dir: string, key: ActiveKey): void {
  const publicDir = path.join(dir, PUBLIC_DIR);
  mkdirSync(publicDir, { recursive: true, mode: 0o700 });
  const file = path.join(publicDir, `${key.keyId}.pem`);
  if (existsSync(file)) return;
  writeFileSync(file, createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
}
