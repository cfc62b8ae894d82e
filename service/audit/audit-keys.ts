/**
 * The audit key: what makes the audit chain keyed, so a database writer without the master key
 * cannot rewrite history and recompute the chain.
 *
 * It is 32 random bytes created once per deployment, stored wrapped by the master key in
 * audit_keys (like a data key), and re-wrapped by rotate-master-key. Deriving it straight from the
 * master key would tie every event to one master key forever: after a rotation the old master
 * key would have to stay around just to verify old events. HKDF derives two keys from it: one for
 * the chain's HMAC and one that seals where each chain's unkeyed (legacy sha256) events end.
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { inspect } from "node:util";
import type { Db } from "../db/index.js";
import { MasterKeyError, unwrapKeyMaterial, wrapKeyMaterial, type MasterKey, type MasterKeyring } from "../crypto/index.js";
import { canonicalJson, type ChainHead } from "./audit-chain.js";
import * as dal from "./audit-dal.js";

const AUDIT_KEY_BYTES = 32;

function wrapContext(id: string): string {
  return `keyplane-audit-key|${id}`;
}

function derive(secret: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), `keyplane audit ${purpose}`, 32));
}

export class AuditKey {
  /** First 16 hex chars of sha256("keyplane-audit-key-id:" ‖ key): names the key in hash_alg, reveals nothing usable. */
  readonly id: string;
  readonly #chainKey: Buffer;
  readonly #sealKey: Buffer;

  constructor(secret: Buffer) {
    this.id = createHash("sha256").update("keyplane-audit-key-id:").update(secret).digest("hex").slice(0, 16);
    this.#chainKey = derive(secret, "chain hmac");
    this.#sealKey = derive(secret, "legacy seal");
  }

  /** The HMAC key of chain links. Only the audit modules should call this. */
  chainKey(): Buffer {
    return this.#chainKey;
  }

  /** Seals (chain, last legacy seq, its hash), so that record cannot be moved or changed. */
  sealLegacyHead(chainKey: string, head: ChainHead): string {
    return createHmac("sha256", this.#sealKey)
      .update(canonicalJson({ chain_key: chainKey, seq: head.seq, hash: head.hash }))
      .digest("hex");
  }

  legacySealHolds(chainKey: string, head: ChainHead, mac: string): boolean {
    const expected = Buffer.from(this.sealLegacyHead(chainKey, head), "hex");
    const given = Buffer.from(mac, "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  [inspect.custom](): string {
    return `AuditKey(${this.id})`;
  }
}

export class AuditKeys {
  readonly current: AuditKey;
  readonly #byId: Map<string, AuditKey>;

  /** `keys` oldest first; the newest keys new events. */
  constructor(keys: readonly AuditKey[]) {
    if (keys.length === 0) throw new TypeError("at least one audit key");
    this.#byId = new Map(keys.map((k) => [k.id, k]));
    this.current = keys[keys.length - 1];
  }

  get(id: string): AuditKey | undefined {
    return this.#byId.get(id);
  }
}

export class AuditKeyError extends Error {
  override readonly name = "AuditKeyError";
}

export interface OpenedAuditKeys {
  keys: AuditKeys;
  /** Set on the start that created the audit key: the legacy events it sealed. */
  created: { chains: number; legacyEvents: number } | null;
}

/**
 * Loads the audit keys, creating the audit key on the first start of a database that has none.
 * Creating it seals, for every chain that already exists, where its sha256 events end: from then
 * on nothing can append an unkeyed event, and verify refuses one past that point.
 */
export async function openAuditKeys(db: Db, keyring: MasterKeyring): Promise<OpenedAuditKeys> {
  return db.transaction(async (tx) => {
    await dal.lockAuditKeys(tx);
    let rows = await dal.listAuditKeys(tx);
    let created: OpenedAuditKeys["created"] = null;
    if (rows.length === 0) {
      // Keyed events without a key mean the key was deleted: making a new one would let
      // whoever deleted it have the chain re-sealed on their terms.
      if (await dal.anyKeyedEvent(tx)) {
        throw new AuditKeyError("the audit log holds keyed events but the audit key is missing from the database (audit_keys); restore it from a backup");
      }
      const secret = randomBytes(AUDIT_KEY_BYTES);
      try {
        const key = new AuditKey(secret);
        const row = { id: key.id, wrapped_key: wrapKeyMaterial(keyring.current, secret, wrapContext(key.id)), master_key_id: keyring.current.id };
        await dal.insertAuditKey(tx, row);
        const heads = await dal.listChainHeads(tx);
        for (const head of heads) {
          await dal.insertLegacyHead(tx, { ...head, audit_key_id: key.id, mac: key.sealLegacyHead(head.chain_key, head) });
        }
        created = { chains: heads.length, legacyEvents: heads.reduce((n, h) => n + h.seq, 0) };
        rows = [row];
      } finally {
        secret.fill(0);
      }
    }
    return { keys: new AuditKeys(rows.map((row) => unwrapAuditKey(keyring, row))), created };
  });
}

function unwrapAuditKey(keyring: MasterKeyring, row: dal.AuditKeyRow): AuditKey {
  const secret = unwrapAuditKeySecret(keyring, row);
  try {
    const key = new AuditKey(secret);
    if (key.id !== row.id) throw new AuditKeyError(`the audit key stored as ${row.id} is another key`);
    return key;
  } finally {
    secret.fill(0);
  }
}

/** The audit key's bytes, unwrapped by whichever key of `keyring` wrapped them; the caller zeroes them. */
function unwrapAuditKeySecret(keyring: MasterKeyring, row: dal.AuditKeyRow): Buffer {
  const masterKey = keyring.get(row.master_key_id);
  if (!masterKey) {
    throw new MasterKeyError(`the audit key ${row.id} is wrapped by master key ${row.master_key_id}, which is not in the keyring`);
  }
  const secret = unwrapKeyMaterial(masterKey, row.wrapped_key, wrapContext(row.id));
  if (!secret) throw new AuditKeyError(`the audit key ${row.id} does not authenticate under master key ${row.master_key_id} (it was tampered with)`);
  return secret;
}

/** Master key rotation: re-wraps every audit key not yet under `newKey`; returns how many. */
export async function rewrapAuditKeys(db: Db, oldKeyring: MasterKeyring, newKey: MasterKey): Promise<number> {
  return db.transaction(async (tx) => {
    let rewrapped = 0;
    for (const row of await dal.listAuditKeys(tx)) {
      if (row.master_key_id === newKey.id) continue;
      const secret = unwrapAuditKeySecret(oldKeyring, row);
      try {
        await dal.updateAuditKeyWrap(tx, { id: row.id, wrapped_key: wrapKeyMaterial(newKey, secret, wrapContext(row.id)), master_key_id: newKey.id });
      } finally {
        secret.fill(0);
      }
      rewrapped += 1;
    }
    return rewrapped;
  });
}
