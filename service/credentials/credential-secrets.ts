// A credential's secret: what it must look like, per credential type and provider (messages name
// the field and the expected shape, never the submitted value), and how its values are sealed into
// a credential version and opened again.
import { keyHint, type ProviderEntry } from "../providers/catalog.js";
import { decryptSecret, encryptSecret, type EncryptedSecret, type MasterKey, type MasterKeyring, type SecretAad } from "../crypto/index.js";
import type { CredentialType } from "../contract-types.js";
import type { FieldError } from "../errors.js";

export interface SecretInput {
  api_key?: string;
  fields?: Record<string, string>;
}

export interface NormalizedSecret {
  /** Field name → value; `api_key` for api_token credentials. Serialized and encrypted as one blob. */
  values: Record<string, string>;
  hint: string;
}

interface TypeRule {
  required: string[];
  optional: string[];
  /** Field whose value the hint is made from. */
  hintFrom: string;
  /** Any field names accepted (custom). */
  open?: boolean;
}

const TYPE_RULES: Record<Exclude<CredentialType, "api_token">, TypeRule> = {
  api_key_pair: { required: ["key_id", "key_secret"], optional: [], hintFrom: "key_id" },
  username_password: { required: ["username", "password"], optional: [], hintFrom: "username" },
  oauth2: { required: ["client_id", "client_secret"], optional: ["refresh_token", "token_url", "scope"], hintFrom: "client_id" },
  aws: { required: ["access_key_id", "secret_access_key"], optional: ["session_token"], hintFrom: "access_key_id" },
  service_account_json: { required: ["service_account_json"], optional: [], hintFrom: "service_account_json" },
  ssh_key: { required: ["private_key"], optional: ["public_key", "passphrase"], hintFrom: "private_key" },
  smtp: { required: ["username", "password"], optional: ["host", "port"], hintFrom: "username" },
  custom: { required: [], optional: [], hintFrom: "", open: true },
};

const MAX_SECRET_LENGTH = 16_384;
const MAX_FIELDS = 32;
const FIELD_NAME = /^[a-z][a-z0-9_]{0,63}$/;

export class SecretRejected extends Error {
  constructor(readonly errors: FieldError[]) {
    super("secret rejected");
  }
}

/** Checks a secret for a provider and type and returns the values to encrypt plus the hint. */
export function normalizeSecret(provider: ProviderEntry, type: CredentialType, input: SecretInput, at = "body"): NormalizedSecret {
  const errors: FieldError[] = [];
  if (type === "api_token") {
    if (input.fields !== undefined) errors.push({ path: `${at}.fields`, message: "an api_token credential takes api_key, not fields" });
    if (input.api_key === undefined) {
      errors.push({ path: `${at}.api_key`, message: "api_key is required for an api_token credential" });
      throw new SecretRejected(errors);
    }
    const key = input.api_key;
    checkString(key, `${at}.api_key`, errors);
    if (errors.length === 0 && provider.key_prefix && !key.startsWith(provider.key_prefix)) {
      errors.push({
        path: `${at}.api_key`,
        message: `${provider.display_name} keys start with "${provider.key_prefix}"; this key does not`,
      });
    } else if (errors.length === 0 && provider.key_pattern && !new RegExp(provider.key_pattern).test(key)) {
      errors.push({
        path: `${at}.api_key`,
        message: `${provider.display_name} keys are "${provider.key_prefix ?? ""}" followed by letters, digits, "-" or "_"`,
      });
    }
    if (errors.length) throw new SecretRejected(errors);
    return { values: { api_key: key }, hint: keyHint(key, provider.id) };
  }

  const rule = TYPE_RULES[type];
  if (input.api_key !== undefined) errors.push({ path: `${at}.api_key`, message: `a ${type} credential takes fields, not api_key` });
  const fields = input.fields;
  if (fields === undefined) {
    errors.push({ path: `${at}.fields`, message: `fields are required for a ${type} credential (${rule.required.join(", ") || "any names"})` });
    throw new SecretRejected(errors);
  }
  const names = Object.keys(fields);
  if (names.length === 0) errors.push({ path: `${at}.fields`, message: "at least one field is required" });
  if (names.length > MAX_FIELDS) errors.push({ path: `${at}.fields`, message: `at most ${MAX_FIELDS} fields are allowed` });
  for (const name of names) {
    if (!FIELD_NAME.test(name)) {
      errors.push({ path: `${at}.fields`, message: "field names are lower_snake_case, at most 64 characters" });
      continue;
    }
    if (!rule.open && !rule.required.includes(name) && !rule.optional.includes(name)) {
      errors.push({
        path: `${at}.fields.${name}`,
        message: `not a field of a ${type} credential (allowed: ${[...rule.required, ...rule.optional].join(", ")})`,
      });
      continue;
    }
    checkString(fields[name], `${at}.fields.${name}`, errors);
  }
  for (const name of rule.required) {
    if (!Object.hasOwn(fields, name)) errors.push({ path: `${at}.fields.${name}`, message: `${name} is required for a ${type} credential` });
  }
  if (errors.length === 0) checkTypeSpecific(type, fields, at, errors);
  if (errors.length) throw new SecretRejected(errors);

  const values = Object.fromEntries(names.sort().map((n) => [n, fields[n]]));
  return { values, hint: hintForFields(provider, type, rule, values) };
}

function checkString(value: unknown, path: string, errors: FieldError[]): void {
  if (typeof value !== "string") {
    errors.push({ path, message: "must be a string" });
  } else if (value.length === 0) {
    errors.push({ path, message: "must not be empty" });
  } else if (value.length > MAX_SECRET_LENGTH) {
    errors.push({ path, message: `must be at most ${MAX_SECRET_LENGTH} characters` });
  } else if (/[\u0000-\u0008\u000e-\u001f\u007f]/.test(value)) {
    errors.push({ path, message: "must not contain control characters" });
  }
}

function checkTypeSpecific(type: CredentialType, fields: Record<string, string>, at: string, errors: FieldError[]): void {
  if (type === "aws") {
    if (!/^(AKIA|ASIA)[A-Z0-9]{12,124}$/.test(fields.access_key_id)) {
      errors.push({ path: `${at}.fields.access_key_id`, message: 'an AWS access key id starts with "AKIA" or "ASIA" followed by capital letters and digits' });
    }
    if (fields.secret_access_key.length < 16 || /\s/.test(fields.secret_access_key)) {
      errors.push({ path: `${at}.fields.secret_access_key`, message: "an AWS secret access key is at least 16 characters without spaces" });
    }
    if (fields.access_key_id.startsWith("ASIA") && !fields.session_token) {
      errors.push({ path: `${at}.fields.session_token`, message: 'temporary credentials ("ASIA…") need a session_token' });
    }
  }
  if (type === "service_account_json") {
    const account = parseServiceAccount(fields.service_account_json);
    if (!account) {
      errors.push({ path: `${at}.fields.service_account_json`, message: "must be a JSON object" });
    } else {
      for (const name of ["client_email", "private_key"] as const) {
        if (typeof account[name] !== "string" || account[name].length === 0) {
          errors.push({ path: `${at}.fields.service_account_json`, message: `the service account JSON must have a string ${name}` });
        }
      }
      if (typeof account.private_key === "string" && !account.private_key.includes("PRIVATE KEY")) {
        errors.push({ path: `${at}.fields.service_account_json`, message: "private_key must be a PEM private key" });
      }
    }
  }
}

function parseServiceAccount(text: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function hintForFields(provider: ProviderEntry, type: CredentialType, rule: TypeRule, values: Record<string, string>): string {
  if (type === "service_account_json") {
    // The key id, not the key: reviewers can match it against the cloud console.
    const account = parseServiceAccount(values.service_account_json) ?? {};
    const keyId = typeof account.private_key_id === "string" ? account.private_key_id : "";
    return keyHint(keyId, provider.id);
  }
  const source = rule.open ? values[Object.keys(values)[0]] : values[rule.hintFrom];
  return keyHint(source ?? "", provider.id);
}

/** Encrypts a version's values (serialized as one JSON object) under a fresh data key. */
export function sealSecretValues(masterKey: MasterKey, values: Readonly<Record<string, string>>, version: SecretAad): EncryptedSecret {
  const plaintext = Buffer.from(JSON.stringify(values), "utf8");
  try {
    return encryptSecret(masterKey, plaintext, version);
  } finally {
    plaintext.fill(0);
  }
}

/** The encrypted columns of a credential version, as the credential and resolve reads select them. */
export interface SealedSecretColumns {
  ciphertext: Uint8Array | null;
  nonce: Uint8Array | null;
  wrapped_dek: Uint8Array | null;
  master_key_id: string | null;
}

/**
 * Decrypts a version's values. Synchronous, so the resolve path awaits nothing while the master
 * key is held: a caller whose keyring may lack `master_key_id` awaits keyring.ensure first.
 * @throws DecryptionError when the row does not authenticate for `version`, was destroyed, or its
 * master key is not in the keyring
 */
export function openSecretValues(keyring: MasterKeyring, sealed: SealedSecretColumns, version: SecretAad): Record<string, string> {
  const plaintext = decryptSecret(
    keyring,
    { ciphertext: sealed.ciphertext, nonce: sealed.nonce, wrappedDek: sealed.wrapped_dek, masterKeyId: sealed.master_key_id },
    version,
  );
  try {
    return JSON.parse(plaintext.toString("utf8")) as Record<string, string>;
  } finally {
    plaintext.fill(0);
  }
}
