import type { Db, Queryable } from "../db/index.js";
import { newId } from "../ids.js";
import { inTransaction, withUniqueConflicts } from "../db/index.js";
import { aliasesPinning } from "../model-aliases/model-alias-dal.js";
import type { MasterKeyring } from "../crypto/index.js";
import { changeAudit } from "../audit/audit-service.js";
import { findProvider, type ProviderEntry } from "../providers/catalog.js";
import { ConflictError, orNotFound, ValidationError, type FieldError } from "../errors.js";
import { checkPrecondition, etagFor, ifMatchHolds, type TagCondition } from "../versioning.js";
import type { CallMeta } from "../auth/actor.js";
import type { CredentialType, Schemas } from "../contract-types.js";
import { normalizeSecret, openSecretValues, sealSecretValues, SecretRejected, type SecretInput } from "./credential-secrets.js";
import { checkVariableNames } from "./credential-variable-names.js";
import { destinationChanges, destinationFieldErrors } from "./credential-destination.js";
import * as dal from "./credential-dal.js";
import type { CredentialRow } from "./credential-dal.js";

export type Credential = Schemas["Credential"];
export type CredentialVersion = Schemas["CredentialVersion"];

/** What a `credential_in_use` problem adds to `Problem`, every member given (the contract's `CredentialInUseProblem`). */
type InUseMembers = Required<Omit<Schemas["CredentialInUseProblem"], keyof Schemas["Problem"]>>;

const MAX_GRACE_SECONDS = 7 * 24 * 3600;
/** A credential resolved this recently is in use: deleting or deactivating it needs `force`. */
const IN_USE_WINDOW_MS = 24 * 3600 * 1000;

const mustFind = orNotFound("credential", dal.findCredential);
const audit = changeAudit("credential");

export class CredentialService {
  constructor(
    private readonly db: Db,
    private readonly keyring: MasterKeyring,
  ) {}

  async create(organizationId: string, body: Schemas["CredentialCreate"], meta: CallMeta, tx?: Queryable): Promise<Credential> {
    const provider = requireProvider(body.provider, "body.provider");
    const type = body.type ?? provider.credential_type;
    checkTypeForProvider(provider, type);
    const secret = secretOrThrow(provider, type, { api_key: body.api_key, fields: body.fields });
    const settings = checkSettings(provider, body.settings ?? {}, "body.settings");
    checkVariableNames(provider, body.env_var ?? provider.default_env_var, Object.keys(secret.values), {
      envVar: "body.env_var",
      field: (f) => `body.fields.${f}`,
    });
    const destinationErrors = destinationFieldErrors(provider, { api_base: body.api_base, settings });
    if (destinationErrors.length) throw new ValidationError(destinationErrors);
    const id = newId("cred");
    const run = async (q: Queryable) => {
      if (body.project_id) await requireProject(q, organizationId, body.project_id, "body.project_id");
      if (body.is_default === true) {
        await takeDefault(
          q,
          meta,
          organizationId,
          { project_id: body.project_id ?? null, provider: provider.id, environment: body.environment ?? "production" },
          id,
        );
      }
      await withUniqueConflicts(CREDENTIAL_CONFLICTS, () =>
        dal.insertCredential(q, {
          id,
          organization_id: organizationId,
          project_id: body.project_id ?? null,
          provider: provider.id,
          name: body.name,
          type,
          category: body.category ?? "llm_provider",
          key_hint: secret.hint,
          key_version: 1,
          api_base: body.api_base ?? provider.default_api_base,
          env_var: body.env_var ?? provider.default_env_var,
          settings,
          environment: body.environment ?? "production",
          owner: body.owner ?? null,
          description: body.description ?? null,
          is_default: body.is_default ?? false,
          active: body.active ?? true,
          rotation_period_days: body.rotation_period_days ?? null,
          secret_field_names: Object.keys(secret.values),
          created_by: meta.actor.tokenId,
        }),
      );
      await this.writeNew(q, organizationId, id, 1, secret.values, secret.hint);
      const row = await mustFind(q, organizationId, id);
      await audit(q, meta, organizationId, "credential.create", id, {
        provider: provider.id,
        name: row.name,
        key_hint: row.key_hint,
        key_version: 1,
        project_id: row.project_id,
      });
      return toApi(row);
    };
    return inTransaction(this.db, tx, run);
  }

  async get(organizationId: string, id: string): Promise<Credential> {
    return toApi(await mustFind(this.db, organizationId, id));
  }

  /** One more than `filter.limit` credentials, to tell whether another page follows. */
  async list(filter: dal.CredentialFilter): Promise<Credential[]> {
    return (await dal.listCredentials(this.db, filter)).map(toApi);
  }

  async update(
    organizationId: string,
    id: string,
    body: Schemas["CredentialUpdate"],
    opts: { force?: boolean; ifMatch?: TagCondition },
    meta: CallMeta,
    within?: Queryable,
  ): Promise<Credential> {
    const { ifMatch } = opts;
    return inTransaction(this.db, within, async (tx) => {
      const current = await mustFind(tx, organizationId, id, { forUpdate: true });
      const provider = requireProvider(current.provider, "provider");
      if (!preconditionHolds(ifMatch, current) && alreadyApplied(current, body, provider)) return toApi(current);
      checkPrecondition(ifMatch, current.version);
      const patch: dal.CredentialPatch = {};
      const changed: string[] = [];
      for (const [key, value] of Object.entries(body) as [keyof typeof body, unknown][]) {
        if (value === undefined) continue;
        if (key === "settings") {
          patch.settings = checkSettings(provider, (value ?? {}) as Record<string, string>, "body.settings");
        } else if (key === "api_base") {
          patch.api_base = (value as string | null) ?? provider.default_api_base;
        } else if (key === "env_var") {
          patch.env_var = (value as string | null) ?? provider.default_env_var;
          checkVariableNames(provider, patch.env_var, current.secret_field_names ?? [], { envVar: "body.env_var", field: () => "body.env_var" });
        } else {
          (patch as Record<string, unknown>)[key] = value;
        }
        changed.push(key);
      }
      if (changed.length === 0) return toApi(current);
      const moved = destinationChanges(current, patch);
      if (moved.length) throw secretRequired(organizationId, id, moved);
      // Deactivating by PATCH is a deactivation: the same in-use guard, the same count restarted.
      const deactivates = current.active && patch.active === false;
      if (deactivates && !opts.force) await this.refuseInUse(tx, current);
      if (patch.is_default === true) {
        await takeDefault(tx, meta, organizationId, { ...current, environment: patch.environment ?? current.environment }, id);
      }
      await withUniqueConflicts(CREDENTIAL_CONFLICTS, () => dal.updateCredential(tx, organizationId, id, patch, meta.actor.tokenId));
      await audit(tx, meta, organizationId, "credential.update", id, { changed_fields: changed.sort() });
      if (deactivates) await dal.resetDeniedUsage(tx, organizationId, id);
      return toApi(await mustFind(tx, organizationId, id));
    });
  }

  async rotate(
    organizationId: string,
    id: string,
    body: Schemas["CredentialRotate"],
    ifMatch: TagCondition | undefined,
    meta: CallMeta,
    within?: Queryable,
  ): Promise<Credential> {
    const graceSeconds = body.grace_seconds ?? 0;
    if (graceSeconds < 0 || graceSeconds > MAX_GRACE_SECONDS) {
      throw new ValidationError([{ path: "body.grace_seconds", message: `must be between 0 and ${MAX_GRACE_SECONDS}` }]);
    }
    return inTransaction(this.db, within, async (tx) => {
      const current = await mustFind(tx, organizationId, id, { forUpdate: true });
      checkPrecondition(ifMatch, current.version);
      const provider = requireProvider(current.provider, "provider");
      const secret = secretOrThrow(provider, current.type as CredentialType, { api_key: body.api_key, fields: body.fields });
      checkVariableNames(provider, current.env_var, Object.keys(secret.values), { envVar: null, field: (f) => `body.fields.${f}` });
      // The destination moves with the new secret, in this transaction: the only way to move it.
      const destination: dal.CredentialPatch = {};
      if (body.api_base !== undefined) destination.api_base = body.api_base ?? provider.default_api_base;
      if (body.settings !== undefined) destination.settings = checkSettings(provider, body.settings, "body.settings");
      const destinationErrors = destinationFieldErrors(provider, destination);
      if (destinationErrors.length) throw new ValidationError(destinationErrors);
      const changedFields: string[] = [];
      if (destination.api_base !== undefined && destination.api_base !== current.api_base) changedFields.push("api_base");
      if (destination.settings && !sameSettings(destination.settings, current.settings ?? {})) changedFields.push("settings");
      if (graceSeconds > 0 && destinationChanges(current, destination).length > 0) {
        throw new ValidationError([
          {
            path: "body.grace_seconds",
            message: "must be 0 when the rotation changes api_base or settings.endpoint: the previous key would stay resolvable with the new destination",
          },
        ]);
      }
      const next = current.key_version + 1;
      await dal.retireVersion(tx, id, current.key_version, graceSeconds);
      await this.writeNew(tx, organizationId, id, next, secret.values, secret.hint);
      await dal.updateCredential(tx, organizationId, id, { ...destination, key_version: next, key_hint: secret.hint, rotated: true }, meta.actor.tokenId);
      const row = await mustFind(tx, organizationId, id);
      await audit(tx, meta, organizationId, "credential.rotate", id, {
        previous_key_version: current.key_version,
        previous_key_hint: current.key_hint,
        key_version: next,
        key_hint: secret.hint,
        grace_seconds: graceSeconds,
        changed_fields: changedFields,
      });
      return toApi(row);
    });
  }

  async setActive(
    organizationId: string,
    id: string,
    active: boolean,
    opts: { force?: boolean; ifMatch?: TagCondition },
    meta: CallMeta,
    within?: Queryable,
  ): Promise<Credential> {
    return inTransaction(this.db, within, async (tx) => {
      const current = await mustFind(tx, organizationId, id, { forUpdate: true });
      // Already so: a stale If-Match loses nothing (as for PATCH), and nothing happens to audit.
      if (current.active === active && !preconditionHolds(opts.ifMatch, current)) return toApi(current);
      checkPrecondition(opts.ifMatch, current.version);
      if (current.active && !active && !opts.force) await this.refuseInUse(tx, current);
      if (current.active !== active) {
        await dal.updateCredential(tx, organizationId, id, { active }, meta.actor.tokenId);
      }
      await audit(tx, meta, organizationId, active ? "credential.activate" : "credential.deactivate", id, {
        changed: current.active !== active,
      });
      // After the audit event: the usage rows are written under the chain head's lock, as the
      // audit group commit writes them, so the two never wait for each other in opposite orders.
      if (current.active && !active) await dal.resetDeniedUsage(tx, organizationId, id);
      return toApi(await mustFind(tx, organizationId, id));
    });
  }

  async delete(organizationId: string, id: string, force: boolean, ifMatch: TagCondition | undefined, meta: CallMeta): Promise<void> {
    await this.db.transaction(async (tx) => {
      const current = await mustFind(tx, organizationId, id, { forUpdate: true });
      checkPrecondition(ifMatch, current.version);
      if (current.active && !force) {
        throw new ConflictError("credential_active", "The credential is active. Deactivate it first and confirm nothing breaks, or delete with ?force=true.");
      }
      if (!force) await this.refuseInUse(tx, current);
      await dal.deleteCredential(tx, organizationId, id);
      await audit(tx, meta, organizationId, "credential.delete", id, {
        provider: current.provider,
        name: current.name,
        key_hint: current.key_hint,
        forced: force && current.active,
      });
      await dal.deleteUsage(tx, organizationId, id);
    });
  }

  async versions(organizationId: string, id: string): Promise<CredentialVersion[]> {
    const current = await mustFind(this.db, organizationId, id);
    const versions = await dal.listVersions(this.db, id);
    const now = Date.now();
    return versions.map((v) => ({
      key_version: v.key_version,
      key_hint: v.key_hint,
      state:
        v.key_version === current.key_version
          ? "current"
          : v.destroyed_at
            ? "destroyed"
            : v.grace_expires_at && new Date(v.grace_expires_at).getTime() > now
              ? "grace"
              : "retired",
      created_at: iso(v.created_at)!,
      retired_at: iso(v.retired_at),
      grace_expires_at: iso(v.grace_expires_at),
      destroyed_at: iso(v.destroyed_at),
    }));
  }

  /** Decrypts one version's secret values. Callers are the resolver paths only. */
  async readSecret(row: { id: string; organization_id: string }, keyVersion: number, q: Queryable = this.db): Promise<Record<string, string> | null> {
    const version = await dal.findVersion(q, row.id, keyVersion);
    if (!version || !version.ciphertext || !version.nonce || !version.wrapped_dek || !version.master_key_id) return null;
    if (version.grace_expires_at && version.destroyed_at === null && new Date(version.grace_expires_at).getTime() <= Date.now()) {
      return null;
    }
    // A rotation run by another process re-wraps data keys under a key this process may not hold yet.
    await this.keyring.ensure(version.master_key_id);
    return openSecretValues(this.keyring, version, { organizationId: row.organization_id, credentialId: row.id, keyVersion });
  }

  /** @throws ConflictError `credential_in_use` when an active alias pins it or it was resolved within a day. */
  private async refuseInUse(q: Queryable, current: CredentialRow): Promise<void> {
    const aliases = await aliasesPinning(q, current.organization_id, current.id);
    const lastUsedAt = current.usage_last_used_at && new Date(current.usage_last_used_at);
    const recentlyUsed = lastUsedAt !== null && Date.now() - lastUsedAt.getTime() < IN_USE_WINDOW_MS;
    if (aliases.length === 0 && !recentlyUsed) return;
    const by = lastUsedBy(current);
    // The detail is all the CLI and the Terraform plugin show, so it names the token too.
    const byWhom = by ? ` by token ${by.name === null ? `${by.token_id} (deleted)` : `"${by.name}" (${by.token_id})`}` : "";
    const reasons = [
      ...(aliases.length ? [`pinned by model alias${aliases.length > 1 ? "es" : ""} ${aliases.map((a) => a.name).join(", ")}`] : []),
      ...(recentlyUsed ? [`last resolved at ${lastUsedAt.toISOString()}${byWhom}`] : []),
    ];
    const inUse: InUseMembers = { aliases, last_used_at: iso(lastUsedAt), last_used_by: by };
    throw new ConflictError(
      "credential_in_use",
      `The credential is in use (${reasons.join("; ")}). Repoint the aliases or confirm the callers have moved on, or retry with ?force=true.`,
      undefined,
      inUse,
    );
  }

  private async writeNew(q: Queryable, organizationId: string, credentialId: string, keyVersion: number, values: Record<string, string>, hint: string) {
    const sealed = sealSecretValues(this.keyring.current, values, { organizationId, credentialId, keyVersion });
    await dal.insertVersion(q, {
      credential_id: credentialId,
      organization_id: organizationId,
      key_version: keyVersion,
      key_hint: hint,
      ciphertext: sealed.ciphertext,
      nonce: sealed.nonce,
      wrapped_dek: sealed.wrappedDek,
      master_key_id: sealed.masterKeyId,
    });
  }
}

function requireProvider(id: string, path: string): ProviderEntry {
  const provider = findProvider(id);
  if (!provider) throw new ValidationError([{ path, message: "not a provider of the catalog (GET /v1/providers lists them)" }]);
  return provider;
}

function preconditionHolds(ifMatch: TagCondition | undefined, current: CredentialRow): boolean {
  return ifMatch === undefined || ifMatchHolds(ifMatch, etagFor(current.version));
}

/**
 * Whether a PATCH asks for nothing the credential does not already have. Then a stale If-Match
 * loses no update, and RFC 9110 §13.1.1 lets the answer be a success: the change "appears to have
 * already been applied" — as when the default moved here from a credential the same apply
 * is about to unset.
 */
function alreadyApplied(current: CredentialRow, body: Schemas["CredentialUpdate"], provider: ProviderEntry): boolean {
  return Object.entries(body).every(([key, value]: [string, unknown]) => {
    if (value === undefined) return true;
    if (key === "settings") return sameSettings((value ?? {}) as Record<string, string>, current.settings ?? {});
    if (key === "api_base") return (value ?? provider.default_api_base) === current.api_base;
    if (key === "env_var") return (value ?? provider.default_env_var) === current.env_var;
    return (current as unknown as Record<string, unknown>)[key] === value;
  });
}

function sameSettings(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

function secretRequired(organizationId: string, id: string, errors: FieldError[]): ValidationError {
  return new ValidationError(
    errors,
    "Changing where a credential's secret is sent needs the secret again. Rotate instead: " +
      `POST /v1/organizations/${organizationId}/credentials/${id}/rotate with the secret (api_key or fields) and the new api_base or settings. Nothing was changed.`,
    "secret_required",
  );
}

function checkTypeForProvider(provider: ProviderEntry, type: CredentialType): void {
  if (provider.id === "custom" || type === provider.credential_type) return;
  throw new ValidationError([{ path: "body.type", message: `${provider.display_name} credentials are of type ${provider.credential_type}` }]);
}

function secretOrThrow(provider: ProviderEntry, type: CredentialType, input: SecretInput) {
  try {
    return normalizeSecret(provider, type, input);
  } catch (error) {
    if (error instanceof SecretRejected) throw new ValidationError(error.errors);
    throw error;
  }
}

function checkSettings(provider: ProviderEntry, settings: Record<string, string>, path: string): Record<string, string> {
  const errors: FieldError[] = [];
  const open = provider.id === "custom" || provider.id === "litellm";
  for (const [key, value] of Object.entries(settings)) {
    if (!open && !provider.settings_allowed.includes(key)) {
      errors.push({
        path: `${path}.${key}`,
        message: provider.settings_allowed.length
          ? `not a setting of ${provider.display_name} (allowed: ${provider.settings_allowed.join(", ")})`
          : `${provider.display_name} takes no settings`,
      });
    } else if (typeof value !== "string") {
      errors.push({ path: `${path}.${key}`, message: "must be a string" });
    }
  }
  if (errors.length) throw new ValidationError(errors);
  return settings;
}

/**
 * Makes room for credential `id` as the default of its scope: whichever credential is the default
 * there stops being it, in the caller's transaction, and the audit log says where it went. So two
 * writes that move a default (say, two resources of one Terraform apply) succeed in either order.
 */
async function takeDefault(q: Queryable, meta: CallMeta, organizationId: string, scope: dal.DefaultScope, id: string): Promise<void> {
  for (const previous of await dal.unsetDefault(q, organizationId, scope, id, meta.actor.tokenId)) {
    await audit(q, meta, organizationId, "credential.update", previous, { changed_fields: ["is_default"], default_moved_to: id });
  }
}

async function requireProject(q: Queryable, organizationId: string, projectId: string, path: string): Promise<void> {
  const { rows } = await q.query("select 1 from projects where organization_id = $1 and id = $2", [organizationId, projectId]);
  if (rows.length === 0) throw new ValidationError([{ path, message: "no such project in this organization" }]);
}

const CREDENTIAL_CONFLICTS = {
  credentials_name_key: {
    code: "name_conflict",
    detail: "A credential with this name already exists for this provider.",
    field: { path: "body.name", message: "names are unique per organization, project and provider" },
  },
  credentials_default_key: {
    code: "default_conflict",
    detail: "Another credential is already the default for this provider and environment.",
    field: { path: "body.is_default", message: "at most one default per organization, project, provider and environment" },
  },
};

function iso(value: Date | string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

/** The token of the credential's last resolve: its id and name (a label), never its value. */
function lastUsedBy(row: CredentialRow): Schemas["CredentialLastUser"] | null {
  return row.usage_last_used_by === null ? null : { token_id: row.usage_last_used_by, name: row.usage_last_used_by_name };
}

export function toApi(row: CredentialRow): Credential {
  return {
    id: row.id,
    organization_id: row.organization_id,
    project_id: row.project_id,
    provider: row.provider,
    name: row.name,
    type: row.type as Credential["type"],
    category: row.category as Credential["category"],
    key_hint: row.key_hint,
    key_version: row.key_version,
    api_base: row.api_base,
    env_var: row.env_var,
    settings: row.settings ?? {},
    environment: row.environment,
    owner: row.owner,
    description: row.description,
    is_default: row.is_default,
    active: row.active,
    rotation_period_days: row.rotation_period_days,
    rotation_due_at: iso(row.rotation_due_at),
    last_verified_at: iso(row.last_verified_at),
    last_verify_status: row.last_verify_status as Credential["last_verify_status"],
    secret_fields: row.secret_field_names ?? [],
    usage: {
      last_used_at: iso(row.usage_last_used_at),
      last_used_by: lastUsedBy(row),
      resolves_30d: row.usage_resolves_30d,
      denied_since_deactivation: row.usage_denied_since_deactivation,
    },
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    rotated_at: iso(row.rotated_at),
    created_by: row.created_by,
    updated_by: row.updated_by,
    version: row.version,
  };
}
