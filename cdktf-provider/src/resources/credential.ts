// keyplane_credential: one credential of the Keyplane service — an AI provider's secret (an API key,
// or fields such as an AWS key pair) owned by an organization or one of its projects, with its
// non-secret metadata.
//
// The secret is write-only: it travels from the configuration to the service on create and on
// rotation and is never part of a plan, a state or this provider's private state. Reviewers see
// hints instead: while planning, the hint of the configured secret is computed with the service's
// own rule (normalizeSecret), so a rotation reads `key_hint: "sk-…a1b2" -> "sk-…z9y8"`. That hint
// is a review guarantee: an apply with another key stops with nothing sent (the engines compare
// their final plan with the reviewed one). `plan_key_hint = false` plans it as known after apply,
// for keys generated anew at apply.
//
// The secret is read only where it is sent — a create, a rotation — never to destroy, and never to
// plan an unchanged version, so a configuration without it (an unset ephemeral variable, a
// placeholder, `lifecycle { ignore_changes = [api_key_wo] }`) still plans and destroys.
//
// Private state (JSON) remembers only the ETag of the last read or write (sent as If-Match) and
// the key_version this configuration last pushed; a higher key_version on refresh means someone
// rotated the key outside Terraform, and the next plan pushes the configured secret again.
//
// The service sends a secret only to the destination it was stored with, so a change of a
// destination field (api_base, settings.endpoint: the service's DESTINATION_FIELDS) is planned as a
// rotation that carries the new value with the configured write-only secret; without one the plan
// stops with an error naming the attribute.
import { randomUUID } from "node:crypto";
import { CREDENTIAL_TYPES, findProvider, PROVIDERS, type CredentialType, type ProviderEntry } from "../../../service/providers/catalog.js";
import { normalizeSecret, SecretRejected, type SecretInput } from "../../../service/credentials/credential-secrets.js";
import { DESTINATION_FIELDS } from "../../../service/credentials/credential-destination.js";
import {
  ApiError,
  type Credential,
  type CredentialCreate,
  type CredentialRotate,
  type CredentialUpdate,
  type KeyplaneClient,
} from "../client/keyplane-client.js";
import {
  diag,
  isUnknown,
  isWhollyKnown,
  key,
  t,
  Unknown,
  type AttributePath,
  type CtyValue,
  type Diagnostic,
  type ManagedResource,
  type ObjectValue,
  type Schema,
} from "../protocol/index.js";
import type { KeyplaneProviderData } from "../provider-data.js";
import { apiErrorDiagnostics, missingOrganization, plannedOrganization, type ErrorContext } from "./api-diagnostics.js";
import { checkCredentialConfig } from "./credential-checks.js";
import { parseImportId } from "./import-id.js";
import { readPrivate, writePrivate, type PrivateState } from "./private-state.js";

export const credentialSchema: Schema = {
  block: {
    description:
      "An AI provider credential stored in Keyplane. The secret (`api_key_wo` or `fields_wo`) is write-only: it is sent to " +
      "the service and never stored in plans or state; plans show the key hint instead. Change `api_key_wo_version` " +
      "(or `fields_wo_version`) to rotate. Destroying deactivates, then deletes.",
    descriptionKind: "markdown",
    attributes: {
      id: { type: t.string, computed: true, useStateForUnknown: true, description: "Credential id (`cred_…`)." },
      organization_id: {
        type: t.string,
        optional: true,
        computed: true,
        requiresReplace: true,
        description: "Organization that owns the credential. Default: the provider's `organization_id`. Changing it replaces the credential.",
      },
      project_id: {
        type: t.string,
        optional: true,
        requiresReplace: true,
        description: "Project the credential belongs to; unset for an organization-level credential. Changing it replaces the credential.",
      },
      provider_type: {
        type: t.string,
        required: true,
        requiresReplace: true,
        description: `Catalog id of the AI provider (${PROVIDERS.map((p) => `\`${p.id}\``).join(", ")}). Changing it replaces the credential.`,
      },
      name: { type: t.string, required: true, description: "Name, unique per organization, project and provider (1–128 characters)." },
      type: {
        type: t.string,
        optional: true,
        computed: true,
        requiresReplace: true,
        description: `Credential type (${CREDENTIAL_TYPES.map((c) => `\`${c}\``).join(", ")}). Default: the provider's catalog type.`,
        // It cannot change in place: once created, an unset type keeps what the credential has.
        default: ({ config, priorState }) => priorState?.type ?? catalogDefault(config, (entry) => entry.credential_type),
      },
      category: {
        type: t.string,
        optional: true,
        computed: true,
        description: "What the credential is for: `llm_provider` (default), `mcp_service`, `runtime`, `communication`, `ssh_key`, `custom`.",
        default: "llm_provider",
      },
      api_key_wo: {
        type: t.string,
        optional: true,
        sensitive: true,
        writeOnly: true,
        description: "The API key of an `api_token` credential. Write-only: sent on create and when `api_key_wo_version` changes, never stored.",
      },
      api_key_wo_version: {
        type: t.number,
        optional: true,
        description: "Set with `api_key_wo`; change it (e.g. increase it) to rotate the key to the configured value.",
      },
      fields_wo: {
        type: t.map(t.string),
        optional: true,
        sensitive: true,
        writeOnly: true,
        description: "Secret fields of a multi-field credential (e.g. `access_key_id`, `secret_access_key` for `aws`). Write-only.",
      },
      fields_wo_version: {
        type: t.number,
        optional: true,
        description: "Set with `fields_wo`; change it to rotate the fields to the configured values.",
      },
      api_base: {
        type: t.string,
        optional: true,
        computed: true,
        description:
          "API base URL (no query, fragment or user info). Default: the catalog's. Keyplane sends the secret only to the destination " +
          "stored with it, so changing `api_base` of an existing credential is applied as a rotation with the configured `api_key_wo` " +
          "(or `fields_wo`); without one the plan fails.",
        default: ({ config }) => catalogDefault(config, (entry) => entry.default_api_base),
      },
      env_var: {
        type: t.string,
        optional: true,
        computed: true,
        description: "Environment variable used for injection. Default: the catalog's.",
        default: ({ config }) => catalogDefault(config, (entry) => entry.default_env_var),
      },
      settings: {
        type: t.map(t.string),
        optional: true,
        description:
          "Non-secret provider settings (the catalog lists the allowed names). Like `api_base`, a change of `endpoint` is applied as a rotation with the configured secret.",
      },
      environment: { type: t.string, optional: true, computed: true, description: "Environment label. Default `production`.", default: "production" },
      owner: { type: t.string, optional: true, description: "Who is responsible for rotating it." },
      description: { type: t.string, optional: true, description: "What the credential is for." },
      is_default: {
        type: t.bool,
        optional: true,
        computed: true,
        description: "Whether this is the default credential for its project, provider and environment. Default `false`.",
        default: false,
      },
      active: { type: t.bool, optional: true, computed: true, description: "Inactive credentials are never resolved. Default `true`.", default: true },
      rotation_period_days: { type: t.number, optional: true, description: "Days between rotations; drives the service's `rotation_due_at`." },
      rotation_grace_seconds: {
        type: t.number,
        optional: true,
        computed: true,
        description:
          "Seconds (0–604800) the previous key stays resolvable as version `previous` after a rotation made by apply. Only read at " +
          "the next rotation: changing it alone updates the state and calls nothing. Must be 0 for a rotation that moves " +
          "`api_base` or `settings.endpoint`. Default `0`.",
        default: 0,
      },
      force_destroy: {
        type: t.bool,
        optional: true,
        computed: true,
        description:
          "Destroy the credential even while it is in use (an active model alias pins it, or it was resolved in the last 24 hours). " +
          "Without it, such a destroy stops with the service's explanation and leaves the credential deactivated. Only read at " +
          "destroy: changing it updates the state and calls nothing. Default `false`.",
        default: false,
      },
      plan_key_hint: {
        type: t.bool,
        optional: true,
        computed: true,
        description:
          "Whether plans show the `key_hint` of the key a create or rotation will send, computed from the configured write-only " +
          "value. The planned hint is a review guarantee: applying a key other than the planned one stops with nothing sent " +
          "(the engine reports an inconsistent final plan). Set it to `false` for keys generated anew at apply (a generator, a " +
          "credential resolved in the same apply): the hint is then known after apply. Only read while planning. Default `true`.",
        default: true,
      },
      key_hint: { type: t.string, computed: true, description: "Public prefix and at most the last 4 characters of the current secret." },
      key_version: { type: t.number, computed: true, description: "1 on create, +1 on each rotation." },
      created_at: { type: t.string, computed: true, useStateForUnknown: true, description: "Creation time (RFC 3339)." },
      updated_at: { type: t.string, computed: true, description: "Time of the last change (RFC 3339)." },
      rotated_at: { type: t.string, computed: true, description: "Time of the last rotation (RFC 3339); null before the first one." },
    },
  },
};

const attributes = credentialSchema.block.attributes;
const IMPORT_ID = { resource: "keyplane_credential", idName: "CREDENTIAL_ID", example: "org_01J…/cred_01J…", bareIdAllowed: false };

/** Attributes the service lets PATCH change in place. */
const MUTABLE = [
  "name",
  "category",
  "api_base",
  "env_var",
  "settings",
  "environment",
  "owner",
  "description",
  "is_default",
  "active",
  "rotation_period_days",
] as const satisfies readonly (keyof CredentialUpdate)[];

/** The format marker every private state of this resource carries (see private-state.ts). */
const FORMAT = { v: 1 } as const;

// Values -----------------------------------------------------------------------------------

const knownString = (value: CtyValue | undefined): string | undefined => (typeof value === "string" ? value : undefined);
const isSet = (value: CtyValue | undefined): boolean => value !== null && value !== undefined;

/** Deep equality of known values; map key order does not matter (jsonb reorders keys). */
function sameValue(a: CtyValue | undefined, b: CtyValue | undefined): boolean {
  const x = a ?? null;
  const y = b ?? null;
  if (x === y) return true;
  if (isUnknown(x) || isUnknown(y) || x === null || y === null || typeof x !== "object" || typeof y !== "object") return false;
  if (Array.isArray(x) || Array.isArray(y)) {
    return Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((v, i) => sameValue(v, y[i]));
  }
  const xs = x as Record<string, CtyValue>;
  const ys = y as Record<string, CtyValue>;
  const keys = Object.keys(xs);
  return keys.length === Object.keys(ys).length && keys.every((k) => Object.hasOwn(ys, k) && sameValue(xs[k], ys[k]));
}

/** The catalog entry of the configured provider_type; undefined while unknown or not in the catalog. */
function catalogEntry(config: ObjectValue): ProviderEntry | undefined {
  const providerType = knownString(config.provider_type);
  return providerType === undefined ? undefined : findProvider(providerType);
}

/** A default taken from the configured provider's catalog entry; unknown until the entry is known. */
function catalogDefault(config: ObjectValue, pick: (entry: ProviderEntry) => CtyValue): CtyValue {
  const entry = catalogEntry(config);
  return entry ? pick(entry) : Unknown;
}

/** The state for a credential as the service returns it; attributes the service does not hold come from `base`. */
export function stateFromCredential(credential: Credential, base: ObjectValue | null): ObjectValue {
  const emptySettings = Object.keys(credential.settings).length === 0;
  return {
    id: credential.id,
    organization_id: credential.organization_id,
    project_id: credential.project_id,
    provider_type: credential.provider,
    name: credential.name,
    type: credential.type,
    category: credential.category,
    api_key_wo: null,
    api_key_wo_version: base?.api_key_wo_version ?? null,
    fields_wo: null,
    fields_wo_version: base?.fields_wo_version ?? null,
    api_base: credential.api_base,
    env_var: credential.env_var,
    // The service answers {} for "no settings"; keep the configuration's null so that is no diff.
    settings: emptySettings && !isSet(base?.settings) ? null : credential.settings,
    environment: credential.environment,
    owner: credential.owner,
    description: credential.description,
    is_default: credential.is_default,
    active: credential.active,
    rotation_period_days: credential.rotation_period_days,
    // Provider-side only: the service keeps no standing grace, it takes one per rotation.
    rotation_grace_seconds: base?.rotation_grace_seconds ?? 0,
    force_destroy: base?.force_destroy ?? false,
    plan_key_hint: base?.plan_key_hint ?? true,
    key_hint: credential.key_hint,
    key_version: credential.key_version,
    created_at: credential.created_at,
    updated_at: credential.updated_at,
    rotated_at: credential.rotated_at,
  };
}

// Secrets ----------------------------------------------------------------------------------

interface ConfiguredSecret {
  /** No secret attribute is set at all. */
  absent: boolean;
  /** Known: the input for the service; undefined while part of it is unknown. */
  input?: SecretInput;
}

function configuredSecret(config: ObjectValue): ConfiguredSecret {
  const apiKey = config.api_key_wo;
  const fields = config.fields_wo;
  if (!isSet(apiKey) && !isSet(fields)) return { absent: true };
  if (isUnknown(apiKey) || !isWhollyKnown(fields ?? null)) return { absent: false };
  return {
    absent: false,
    input: {
      ...(typeof apiKey === "string" ? { api_key: apiKey } : {}),
      ...(isSet(fields) ? { fields: fields as Record<string, string> } : {}),
    },
  };
}

// Destination ------------------------------------------------------------------------------

function settingOf(settings: CtyValue | undefined, name: string): CtyValue | undefined {
  if (isUnknown(settings)) return Unknown;
  if (!isSet(settings) || typeof settings !== "object") return null;
  return (settings as Record<string, CtyValue>)[name] ?? null;
}

/** The destination fields as attributes: `settings.endpoint` is the "endpoint" key of the settings map. */
const DESTINATIONS = DESTINATION_FIELDS.map((field) => {
  const [name, entry] = field.split(".");
  return {
    field,
    name,
    path: entry === undefined ? [name] : [name, key(entry)],
    valueIn: (state: ObjectValue) => (entry === undefined ? state[name] : settingOf(state[name], entry)),
  };
});
const DESTINATION_ATTRIBUTES = new Set(DESTINATIONS.map((d) => d.name));

interface MovedField {
  /** As the service names it, e.g. `settings.endpoint`. */
  field: string;
  path: AttributePath;
}

interface DestinationMove {
  /** Destination fields known to differ. */
  moved: MovedField[];
  /** Whether a destination field is not known yet (it may or may not move). */
  unknown: boolean;
}

/** Whether the planned destination fields differ from the prior ones. */
function destinationMove(prior: ObjectValue, planned: ObjectValue): DestinationMove {
  const move: DestinationMove = { moved: [], unknown: false };
  for (const { field, path, valueIn } of DESTINATIONS) {
    const after = valueIn(planned);
    if (isUnknown(after)) move.unknown = true;
    else if (!sameValue(valueIn(prior), after)) move.moved.push({ field, path });
  }
  return move;
}

function destinationNeedsSecret({ field, path }: MovedField, prior: ObjectValue, secretAttribute: string): Diagnostic {
  return diag.error(
    `Changing ${field} needs the secret`,
    `Keyplane sends a credential's secret only to the destination it was stored with, so changing ${field} of ${label(prior)} ` +
      `is done by a rotation that carries the new ${field} together with the secret. This configuration has no ${secretAttribute}: ` +
      `set ${secretAttribute} and ${secretAttribute}_version (e.g. from a sensitive, ephemeral variable), then plan again; ` +
      `or keep ${field} as it is.`,
    path,
  );
}

function graceAcrossDestinations({ field }: MovedField, prior: ObjectValue): Diagnostic {
  return diag.error(
    `No grace when ${field} changes`,
    `This plan rotates ${label(prior)} to move ${field}. Keyplane keeps no previous key across a change of destination (it would ` +
      `then be sent to the new ${field}), so such a rotation needs rotation_grace_seconds = 0. Set it to 0 for this change; ` +
      "raising it again afterwards changes only the state.",
    ["rotation_grace_seconds"],
  );
}

/** `body.api_key` → api_key_wo, `body.fields.x` → fields_wo["x"]. */
function secretPath(field: string): AttributePath {
  const [, name, sub] = field.split(".");
  if (name === "api_key") return ["api_key_wo"];
  if (name === "fields") return sub ? ["fields_wo", key(sub)] : ["fields_wo"];
  return [];
}

/**
 * Checks the configured secret exactly as the service will and returns its hint. Messages name
 * the attribute and the expected shape (e.g. the key prefix), never the value.
 */
function hintOf(entry: ProviderEntry, type: CredentialType, input: SecretInput): { hint?: string; diagnostics: Diagnostic[] } {
  try {
    return { hint: normalizeSecret(entry, type, input).hint, diagnostics: [] };
  } catch (error) {
    if (!(error instanceof SecretRejected)) throw error;
    return {
      diagnostics: error.errors.map((fe) => {
        const path = secretPath(fe.path);
        const name = path[0] === "fields_wo" && path.length > 1 ? `fields_wo["${(path[1] as { key: string }).key}"]` : String(path[0] ?? "the secret");
        return diag.error(
          `Invalid ${name}`,
          `The configured ${name} does not pass Keyplane's check for ${entry.id} credentials: ${fe.message.replace(/\.?$/, ".")}`,
          path,
        );
      }),
    };
  }
}

// Errors -----------------------------------------------------------------------------------

function errorContext(action: string, sentEtag?: string): ErrorContext {
  return {
    action,
    attributes,
    renames: { provider: "provider_type", api_key: "api_key_wo", fields: "fields_wo", grace_seconds: "rotation_grace_seconds" },
    byCode: {
      precondition_failed: (err) => [
        diag.error(
          "Credential changed outside Terraform",
          `Could not ${action}: the credential was changed outside Terraform since the last refresh ` +
            `(Terraform expected ETag ${sentEtag ?? "(none)"}, the service now has ${err.etag ?? "a newer version"}). ` +
            "Nothing was changed. Run plan again to see the current values, then apply.",
        ),
      ],
    },
    forbiddenHint: "Managing credentials needs an admin token of the organization.",
    notFoundHint: "The credential or its organization does not exist, or the token belongs to another organization.",
  };
}

/** errorContext, plus what to do when the service refuses because the credential is still in use. */
function destroyContext(action: string, sentEtag?: string): ErrorContext {
  const context = errorContext(action, sentEtag);
  return {
    ...context,
    byCode: {
      ...context.byCode,
      credential_in_use: (err) => [
        diag.error(
          "Credential still in use",
          `Could not ${action}: ${err.message} Repoint the model aliases that pin it, or set force_destroy = true on this resource ` +
            "(and apply it) to destroy it anyway.",
          ["force_destroy"],
        ),
      ],
    },
  };
}

function label(state: ObjectValue | null): string {
  const name = knownString(state?.name);
  const id = knownString(state?.id);
  return `credential${name ? ` "${name}"` : ""}${id ? ` (${id})` : ""}`;
}

/** Which *_wo_version the configuration changes (set to a new value), or whether one is not known yet. */
function versionChange(config: ObjectValue, prior: ObjectValue): { changed?: string; unknown: boolean } {
  let unknown = false;
  for (const name of ["api_key_wo_version", "fields_wo_version"]) {
    if (isUnknown(config[name])) unknown = true;
    // Removing a version (null) stops managing the secret; it is no rotation.
    else if (isSet(config[name]) && !sameValue(config[name], prior[name])) return { changed: name, unknown };
  }
  return { unknown };
}

function missingSecret(attribute: string, why: string): Diagnostic {
  return diag.error(
    `Missing ${attribute}`,
    `${why}: set ${attribute}${attribute === "api_key_wo" ? " (api_token credentials) or fields_wo (all other types)" : ""}, e.g. from a ` +
      "sensitive, ephemeral variable. If lifecycle ignore_changes lists it, the secret cannot be sent: leave the version unchanged.",
    [attribute],
  );
}

// Resource ---------------------------------------------------------------------------------

export const credentialResource: ManagedResource<KeyplaneProviderData> = {
  schema: credentialSchema,

  validate: ({ config }) => checkCredentialConfig(config),

  plan({ priorState, proposedNewState, config, priorPrivate, provider }) {
    if (proposedNewState === null || config === null) return { plannedState: null };
    // `config` may be adjusted by lifecycle ignore_changes (write-only values then null): the checks
    // of the raw configuration ran in validate; here only what this plan will send is checked.
    const diagnostics: Diagnostic[] = [];
    // The schema's defaults (those the service would apply) are already in the proposed state.
    const planned: ObjectValue = { ...proposedNewState };

    const organization = plannedOrganization(config, provider, priorState);
    if (organization !== null) planned.organization_id = organization;
    else diagnostics.push(missingOrganization("A keyplane_credential"));

    const secret = configuredSecret(config);
    const typeKnown = knownString(planned.type) as CredentialType | undefined;
    const secretAttribute = typeKnown && typeKnown !== "api_token" ? "fields_wo" : "api_key_wo";
    /** The planned hint of the secret this plan sends, after checking it as the service will. */
    const sentHint = (why: string): CtyValue => {
      if (secret.absent) {
        diagnostics.push(missingSecret(secretAttribute, why));
        return Unknown;
      }
      const entry = catalogEntry(config);
      if (!entry || !typeKnown || !secret.input) return Unknown;
      const checked = hintOf(entry, typeKnown, secret.input);
      diagnostics.push(...checked.diagnostics);
      return planned.plan_key_hint === true ? (checked.hint ?? Unknown) : Unknown;
    };

    if (priorState === null) {
      Object.assign(planned, {
        id: Unknown,
        key_hint: sentHint("Creating a credential needs its secret"),
        key_version: 1,
        created_at: Unknown,
        updated_at: Unknown,
        rotated_at: null,
      });
      return { plannedState: planned, diagnostics };
    }

    // Update: computed values stay as refreshed unless this change moves them.
    for (const name of ["id", "key_hint", "key_version", "created_at", "updated_at", "rotated_at"]) planned[name] = priorState[name];
    const applied = readPrivate(priorPrivate);
    const version = versionChange(config, priorState);
    const remoteVersion = typeof priorState.key_version === "number" ? priorState.key_version : undefined;
    const rotatedOutside = applied.key_version !== undefined && remoteVersion !== undefined && remoteVersion > applied.key_version;

    let rotate = version.changed !== undefined;
    let why = version.changed === undefined ? "" : `${version.changed} changed`;
    let plannedPrivate: Buffer | undefined;
    const destination = destinationMove(priorState, planned);
    if (destination.moved.length > 0) {
      if (secret.absent) {
        for (const moved of destination.moved) diagnostics.push(destinationNeedsSecret(moved, priorState, secretAttribute));
      } else {
        rotate = true;
        why ||= `${destination.moved[0].field} changes`;
        if (typeof planned.rotation_grace_seconds === "number" && planned.rotation_grace_seconds > 0) {
          diagnostics.push(graceAcrossDestinations(destination.moved[0], priorState));
        }
      }
    }
    if (rotatedOutside && version.changed === undefined) {
      if (secret.absent) {
        // The configuration does not manage the secret: an outside rotation is not drift; adopt it.
        plannedPrivate = writePrivate({ ...FORMAT, ...applied, key_version: remoteVersion });
      } else {
        const attribute = isSet(config.fields_wo) ? "fields_wo" : "api_key_wo";
        rotate = true;
        why ||= "the key was rotated outside Terraform";
        diagnostics.push(
          diag.warning(
            "Credential rotated outside Terraform",
            `Keyplane reports key_version ${remoteVersion} (${priorState.key_hint}) for this ${label(priorState)}, but the last version ` +
              `Terraform pushed is ${applied.key_version}: someone rotated it through the API or CLI. This plan pushes the configured ` +
              `write-only ${attribute} again as key_version ${remoteVersion + 1}, so the credential matches the configuration. To keep the ` +
              `outside rotation instead, put that secret in ${attribute} and change ${attribute}_version.`,
            [attribute],
          ),
        );
      }
    }
    if (rotate) {
      planned.key_hint = sentHint(`This plan rotates the key (${why}), which needs the secret`);
      planned.key_version = (remoteVersion ?? 0) + 1;
      planned.rotated_at = Unknown;
    } else if (version.unknown || (destination.unknown && !secret.absent)) {
      // Decided once the version or destination is known: a rotation if it changes, else nothing.
      Object.assign(planned, { key_hint: Unknown, key_version: Unknown, rotated_at: Unknown });
    }
    const remoteChange = rotate || isUnknown(planned.key_version) || MUTABLE.some((name) => !sameValue(planned[name], priorState[name]));
    if (remoteChange) planned.updated_at = Unknown;
    return { plannedState: planned, diagnostics, ...(plannedPrivate ? { plannedPrivate } : {}) };
  },

  async apply({ priorState, plannedState, config, plannedPrivate, provider: { client, credentialReads, organizationId }, signal }) {
    const applied = readPrivate(plannedPrivate);
    const organization = knownString((plannedState ?? priorState)?.organization_id) ?? organizationId;
    if (organization) credentialReads.forget(organization);
    if (plannedState === null) return destroy(client, priorState!, applied, signal);
    if (priorState === null) return create(client, plannedState, config ?? {}, signal);
    return update(client, priorState, plannedState, config ?? {}, applied, signal);
  },

  async read({ currentState, private: raw, provider: { credentialReads, organizationId }, signal }) {
    const organization = knownString(currentState.organization_id) ?? organizationId;
    const id = knownString(currentState.id);
    if (!organization || !id) return { newState: currentState };
    let found;
    try {
      found = await credentialReads.read(organization, id, signal);
    } catch (error) {
      return { newState: currentState, diagnostics: apiErrorDiagnostics(error, errorContext(`read ${label(currentState)}`)) };
    }
    // Deleted outside Terraform: forget it, so the next plan creates it again.
    if (!found) return { newState: null };
    const applied = readPrivate(raw);
    return {
      newState: stateFromCredential(found.body, currentState),
      // Keep the version this configuration pushed (an imported credential adopts the current one):
      // a higher current version means it was rotated outside Terraform.
      private: writePrivate({ ...FORMAT, etag: found.etag, key_version: applied.key_version ?? found.body.key_version }),
    };
  },

  import({ id, provider }) {
    const parsed = parseImportId(id, IMPORT_ID, provider.organizationId);
    if ("diagnostics" in parsed) return { state: null, diagnostics: parsed.diagnostics };
    const state: ObjectValue = Object.fromEntries(Object.keys(attributes).map((name) => [name, null]));
    state.organization_id = parsed.organizationId;
    state.id = parsed.id;
    return { state, private: writePrivate(FORMAT) };
  },
};

// Apply steps ------------------------------------------------------------------------------

async function create(client: KeyplaneClient, planned: ObjectValue, config: ObjectValue, signal: AbortSignal) {
  const secret = configuredSecret(config).input;
  if (!secret) {
    return { newState: null, diagnostics: [diag.error("Missing api_key_wo", "Creating a credential needs api_key_wo or fields_wo.", ["api_key_wo"])] };
  }
  const notReviewed = keyNotReviewed(planned, secret, null);
  if (notReviewed) return { newState: null, diagnostics: [notReviewed] };
  const optional = <T>(value: CtyValue | undefined) => (isSet(value) ? (value as T) : undefined);
  const body: CredentialCreate = {
    provider: planned.provider_type as string,
    name: planned.name as string,
    project_id: optional<string>(planned.project_id),
    type: optional<CredentialCreate["type"]>(planned.type),
    category: optional<CredentialCreate["category"]>(planned.category),
    ...secret,
    api_base: optional<string>(planned.api_base),
    env_var: optional<string>(planned.env_var),
    settings: optional<Record<string, string>>(planned.settings),
    environment: optional<string>(planned.environment),
    owner: optional<string>(planned.owner),
    description: optional<string>(planned.description),
    is_default: optional<boolean>(planned.is_default),
    active: optional<boolean>(planned.active),
    rotation_period_days: optional<number>(planned.rotation_period_days),
  };
  try {
    // One key per apply: the client's retries of this request can never create a second credential.
    const created = await client.createCredential(planned.organization_id as string, body, randomUUID(), signal);
    return {
      newState: stateFromCredential(created.body, planned),
      private: writePrivate({ ...FORMAT, etag: created.etag, key_version: created.body.key_version }),
    };
  } catch (error) {
    return { newState: null, diagnostics: apiErrorDiagnostics(error, errorContext(`create credential "${body.name}"`)) };
  }
}

async function update(client: KeyplaneClient, prior: ObjectValue, planned: ObjectValue, config: ObjectValue, applied: PrivateState, signal: AbortSignal) {
  const organization = prior.organization_id as string;
  const id = prior.id as string;
  const moved = destinationMove(prior, planned).moved;
  const rotate = !sameValue(planned.key_version, prior.key_version);
  const patch: CredentialUpdate = {};
  // The service takes a new destination only with the secret: those fields ride on the rotation.
  const withRotation: Pick<CredentialRotate, "api_base" | "settings"> = {};
  for (const name of MUTABLE) {
    // active goes through activate/deactivate, which the audit log records as such.
    if (name === "active" || sameValue(planned[name], prior[name])) continue;
    // settings: null in configuration means none; the service replaces the whole map.
    const value = name === "settings" ? (planned.settings ?? {}) : planned[name];
    if (moved.length > 0 && DESTINATION_ATTRIBUTES.has(name)) (withRotation as Record<string, unknown>)[name] = value;
    else (patch as Record<string, unknown>)[name] = value;
  }
  let etag = applied.etag;
  let keyVersion = applied.key_version;
  let current: Credential | undefined;
  // After a failure the old *_wo_version stays in state, so the next plan proposes the rotation again.
  const failed = (diagnostics: Diagnostic[]) => ({
    newState: current
      ? stateFromCredential(current, { ...planned, api_key_wo_version: prior.api_key_wo_version, fields_wo_version: prior.fields_wo_version })
      : prior,
    private: writePrivate({ ...FORMAT, etag, key_version: keyVersion }),
    diagnostics,
  });

  const setActive = async (active: boolean) => {
    const sent = etag;
    try {
      ({ body: current, etag } = await client.setCredentialActive(organization, id, active, sent, signal));
    } catch (error) {
      return failed(apiErrorDiagnostics(error, errorContext(`${active ? "activate" : "deactivate"} ${label(prior)}`, sent)));
    }
  };
  const activeChange = sameValue(planned.active, prior.active) ? undefined : planned.active === true;

  if (Object.keys(patch).length > 0) {
    const sent = etag;
    try {
      ({ body: current, etag } = await client.updateCredential(organization, id, patch, sent, signal));
    } catch (error) {
      return failed(apiErrorDiagnostics(error, errorContext(`update ${label(prior)}`, sent)));
    }
  }
  // Deactivate before and activate after a rotation: the old key is never resolvable again meanwhile.
  if (activeChange === false) {
    const failure = await setActive(false);
    if (failure) return failure;
  }
  if (moved.length > 0 && !rotate) {
    const attribute = prior.type !== null && prior.type !== "api_token" ? "fields_wo" : "api_key_wo";
    return failed(moved.map((m) => destinationNeedsSecret(m, prior, attribute)));
  }
  if (rotate) {
    const secret = configuredSecret(config).input;
    if (!secret) {
      return failed([diag.error("Missing api_key_wo", "The rotation needs the configured api_key_wo or fields_wo, which is not known.", ["api_key_wo"])]);
    }
    const notReviewed = keyNotReviewed(planned, secret, prior);
    if (notReviewed) return failed([notReviewed]);
    const sent = etag;
    try {
      const grace = typeof planned.rotation_grace_seconds === "number" ? planned.rotation_grace_seconds : 0;
      const body: CredentialRotate = { ...secret, ...withRotation, ...(grace > 0 ? { grace_seconds: grace } : {}) };
      ({ body: current, etag } = await client.rotateCredential(organization, id, body, sent, signal));
      keyVersion = current.key_version;
    } catch (error) {
      return failed(apiErrorDiagnostics(error, errorContext(`rotate ${label(prior)}`, sent)));
    }
  }
  if (activeChange === true) {
    const failure = await setActive(true);
    if (failure) return failure;
  }
  return {
    // Only *_wo_version, rotation_grace_seconds, force_destroy or plan_key_hint changed: nothing to send, the state just records them.
    newState: current
      ? stateFromCredential(current, planned)
      : {
          ...prior,
          api_key_wo_version: planned.api_key_wo_version,
          fields_wo_version: planned.fields_wo_version,
          rotation_grace_seconds: planned.rotation_grace_seconds,
          force_destroy: planned.force_destroy,
          plan_key_hint: planned.plan_key_hint,
        },
    private: writePrivate({ ...FORMAT, etag, key_version: keyVersion ?? current?.key_version }),
  };
}

async function destroy(client: KeyplaneClient, prior: ObjectValue, applied: PrivateState, signal: AbortSignal) {
  const organization = prior.organization_id as string;
  const id = prior.id as string;
  const force = prior.force_destroy === true;
  let etag = applied.etag;
  /**
   * Runs a guarded write; when the stored ETag is stale (a change made outside Terraform that a
   * `destroy -refresh=false` did not read), re-reads and runs it once more on the current version:
   * destroy means "make it gone", whatever the other fields now hold. false: the credential is gone.
   */
  const guarded = async (write: (ifMatch: string | undefined) => Promise<string | undefined>): Promise<boolean> => {
    try {
      etag = await write(etag);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 412)) throw error;
      const current = await client.getCredential(organization, id, signal);
      if (!current) return false;
      etag = await write(current.etag);
    }
    return true;
  };
  // Deactivate first: resolvers stop getting the key before it disappears; then delete.
  try {
    if (!(await guarded(async (ifMatch) => (await client.setCredentialActive(organization, id, false, ifMatch, signal, { force })).etag))) {
      return { newState: null };
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return { newState: null };
    return { newState: prior, diagnostics: apiErrorDiagnostics(error, destroyContext(`deactivate ${label(prior)} before deleting it`, etag)) };
  }
  try {
    await guarded(async (ifMatch) => {
      await client.deleteCredential(organization, id, { force, ifMatch, signal });
      return ifMatch;
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return { newState: null };
    return {
      newState: { ...prior, active: false },
      private: writePrivate({ ...FORMAT, ...applied, etag }),
      diagnostics: apiErrorDiagnostics(error, destroyContext(`delete ${label(prior)} (it is now deactivated)`, etag)),
    };
  }
  return { newState: null };
}

/**
 * The reviewed plan showed the hint of one key; the configuration now holds another (a saved plan
 * applied with a different value, or an ephemeral source that changed since planning). The engines
 * stop such an apply themselves ("inconsistent final plan"); this makes the guarantee the
 * provider's own, so nothing is ever sent that the reviewer did not see.
 */
function keyNotReviewed(planned: ObjectValue, secret: SecretInput, prior: ObjectValue | null): Diagnostic | undefined {
  const entry = catalogEntry(planned);
  const type = knownString(planned.type) as CredentialType | undefined;
  if (typeof planned.key_hint !== "string" || !entry || !type) return undefined;
  const actual = hintOf(entry, type, secret).hint;
  if (actual === undefined || actual === planned.key_hint) return undefined;
  return diag.error(
    "Key differs from the reviewed plan",
    `The plan for ${label(prior ?? planned)} showed key_hint "${planned.key_hint}", but the configured key has hint "${actual}": ` +
      "the key changed between plan and apply. Nothing was sent. Plan again to review the key that will be sent, or set " +
      "plan_key_hint = false when the key is generated anew at apply.",
    ["key_hint"],
  );
}
