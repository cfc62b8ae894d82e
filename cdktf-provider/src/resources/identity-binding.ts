// keyplane_identity_binding: which workload identities (an OIDC issuer, audience, subject and
// claims) may exchange their platform's identity token for a short-lived Keyplane token, and what
// that token may do (role, project, lifetime). Nothing here is secret: who may get a token is an
// ordinary reviewed plan.
//
// The service's ETag travels in private state so updates are If-Match guarded, like keyplane_model_alias.
import type { IdentityBinding } from "../client/keyplane-client.js";
import {
  ctyEqual,
  diag,
  isUnknown,
  key,
  t,
  Unknown,
  type AttributeSchema,
  type CtyValue,
  type Diagnostic,
  type ManagedResource,
  type ObjectValue,
} from "../protocol/index.js";
import type { KeyplaneProviderData } from "../provider-data.js";
import { apiErrorDiagnostics, missingOrganization, plannedOrganization, type ErrorContext } from "./api-diagnostics.js";
import { importFetched, readFetched, type FetchedObject } from "./fetched-object.js";
import { readPrivate, writePrivate } from "./private-state.js";

const DEFAULT_TTL_SECONDS = 900;

const attributes: Record<string, AttributeSchema> = {
  id: { type: t.string, computed: true, useStateForUnknown: true, description: "Identity binding ID (`idb_…`).", descriptionKind: "markdown" },
  organization_id: {
    type: t.string,
    optional: true,
    computed: true,
    requiresReplace: true,
    description: "Organization that owns the binding. Default: the provider's `organization_id`. Changing it replaces the binding.",
    descriptionKind: "markdown",
  },
  name: { type: t.string, required: true, description: "Name of the binding (1–128 characters), unique per organization." },
  issuer: {
    type: t.string,
    required: true,
    requiresReplace: true,
    description:
      "The `iss` the identity tokens carry, compared exactly, e.g. `https://token.actions.githubusercontent.com`. Must be `https`. Changing it replaces the binding.",
    descriptionKind: "markdown",
  },
  audience: {
    type: t.string,
    required: true,
    description: "The audience the identity tokens must be issued for (their `aud` must contain it), e.g. `keyplane`.",
    descriptionKind: "markdown",
  },
  jwks_uri: {
    type: t.string,
    optional: true,
    description: "Where the issuer publishes its keys, for issuers without an OpenID discovery document. Unset: from the issuer's discovery document.",
  },
  subject: {
    type: t.string,
    required: true,
    description: "The `sub` the tokens must carry: exact, or with `*` for any run of characters (`repo:acme/support-bot:*`).",
    descriptionKind: "markdown",
  },
  claims: {
    type: t.map(t.string),
    optional: true,
    computed: true,
    description: "Further claims that must match: claim name → exact value or `*` pattern (at most 32). Default `{}`.",
    descriptionKind: "markdown",
    default: {},
  },
  role: {
    type: t.string,
    optional: true,
    computed: true,
    description: "Role of the issued tokens; only `resolver`. Default `resolver`.",
    descriptionKind: "markdown",
    default: "resolver",
  },
  project_id: {
    type: t.string,
    optional: true,
    description: "The project the issued tokens are confined to; unset: the whole organization.",
  },
  ttl_seconds: {
    type: t.number,
    optional: true,
    computed: true,
    description: `Lifetime of the issued tokens in seconds (60–3600). Default ${DEFAULT_TTL_SECONDS}.`,
    default: DEFAULT_TTL_SECONDS,
  },
  active: {
    type: t.bool,
    optional: true,
    computed: true,
    description: "An inactive binding matches no exchange; turning it off revokes the tokens it issued. Default `true`.",
    descriptionKind: "markdown",
    default: true,
  },
  created_at: { type: t.string, computed: true, useStateForUnknown: true, description: "Creation time (RFC 3339)." },
  updated_at: { type: t.string, computed: true, description: "Time of the last change (RFC 3339)." },
};

/** What PATCH can change; the issuer and the organization are fixed (a replacement). */
const UPDATABLE = ["name", "audience", "jwks_uri", "subject", "claims", "role", "project_id", "ttl_seconds", "active"] as const;

const ORG_ID = /^org_[0-9A-HJKMNP-TV-Z]{26}$/;
const PROJECT_ID = /^prj_[0-9A-HJKMNP-TV-Z]{26}$/;
const ISSUER_URL = /^https?:\/\/[^\s?#@]+$/;
const CLAIM_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
const CONTROL = /[\x00-\x1F\x7F]/;

const toState = (binding: IdentityBinding): ObjectValue => ({
  id: binding.id,
  organization_id: binding.organization_id,
  name: binding.name,
  issuer: binding.issuer,
  audience: binding.audience,
  jwks_uri: binding.jwks_uri,
  subject: binding.subject,
  claims: binding.claims ?? {},
  role: binding.role,
  project_id: binding.project_id,
  ttl_seconds: binding.ttl_seconds,
  active: binding.active,
  created_at: binding.created_at,
  updated_at: binding.updated_at,
});

function errors(action: string, extra: Partial<ErrorContext> = {}): ErrorContext {
  return {
    action,
    attributes,
    renames: { org: "organization_id" },
    forbiddenHint: "Managing identity bindings needs an admin (or platform-admin) token of the organization.",
    ...extra,
  };
}

function label(state: ObjectValue | null): string {
  return `identity binding "${String(state?.name ?? state?.id ?? "")}"${typeof state?.id === "string" ? ` (${state.id})` : ""}`;
}

const nameTaken = (what: string) => (e: { message: string }) => [
  diag.error("Identity binding name already taken", `Could not ${what}: ${e.message} Names are unique per organization.`, ["name"]),
];

/** Static checks that need no service, each naming its attribute. */
function checkConfig(config: ObjectValue): Diagnostic[] {
  const out: Diagnostic[] = [];
  const invalid = (name: string, detail: string) => out.push(diag.error(`Invalid ${name}`, detail, [name]));
  const text = (name: string) => (typeof config[name] === "string" ? config[name] : undefined);
  const pattern = (name: string, value: string | undefined, max: number) => {
    if (value !== undefined && (value.length === 0 || value.length > max || CONTROL.test(value))) {
      invalid(name, `${name} must be 1–${max} characters without control characters.`);
    }
  };

  const org = text("organization_id");
  if (org !== undefined && !ORG_ID.test(org)) invalid("organization_id", `organization_id must be an organization ID such as org_01J…, got "${org}".`);
  const project = text("project_id");
  if (project !== undefined && !PROJECT_ID.test(project)) invalid("project_id", `project_id must be a project ID such as prj_01J…, got "${project}".`);
  pattern("name", text("name"), 128);
  for (const name of ["issuer", "jwks_uri"]) {
    const url = text(name);
    if (url !== undefined && (!ISSUER_URL.test(url) || url.length < 8 || url.length > 512)) {
      invalid(name, `${name} must be an https:// URL of at most 512 characters, without query, fragment or user name; got "${url}".`);
      // http:// passes here: whether it is allowed is the service's setting (KEYPLANE_ALLOW_INSECURE_ISSUERS).
    }
  }
  pattern("audience", text("audience"), 512);
  pattern("subject", text("subject"), 512);
  const role = text("role");
  if (role !== undefined && role !== "resolver") invalid("role", `Issued tokens can only be resolver tokens (role = "resolver"), got "${role}".`);
  const ttl = config.ttl_seconds;
  if (typeof ttl === "number" && (!Number.isInteger(ttl) || ttl < 60 || ttl > 3600)) {
    invalid("ttl_seconds", `ttl_seconds must be a whole number of seconds from 60 to 3600, got ${ttl}.`);
  }
  const claims = config.claims;
  if (claims !== null && claims !== undefined && !isUnknown(claims)) {
    const entries = Object.entries(claims as Record<string, CtyValue>);
    if (entries.length > 32) invalid("claims", `claims may hold at most 32 entries, got ${entries.length}.`);
    for (const [claim, value] of entries) {
      if (!CLAIM_NAME.test(claim)) {
        out.push(diag.error("Invalid claims", `Claim name "${claim}" must be 1–128 letters, digits, "_", ".", ":" or "-".`, ["claims", key(claim)]));
      } else if (typeof value === "string" && (value.length === 0 || value.length > 512 || CONTROL.test(value))) {
        out.push(diag.error("Invalid claims", `The pattern of claim "${claim}" must be 1–512 characters without control characters.`, ["claims", key(claim)]));
      }
    }
  }
  return out;
}

const IMPORT_ID = { resource: "keyplane_identity_binding", idName: "BINDING_ID", example: "org_01J…/idb_01J…", bareIdAllowed: true };

const FETCHED: FetchedObject<IdentityBinding> = {
  noun: "identity binding",
  importId: IMPORT_ID,
  get: ({ client }, org, id, signal) => client.getIdentityBinding(org, id, signal),
  toState,
  errors: (action) => errors(action),
};

export const identityBindingResource: ManagedResource<KeyplaneProviderData> = {
  schema: {
    block: {
      description:
        "A Keyplane identity binding: workloads whose platform identity token (a Kubernetes service-account token, a GitHub Actions " +
        "OIDC token) matches its issuer, audience, subject and claims may exchange it for a short-lived Keyplane token. " +
        "Import with `ORG_ID/BINDING_ID`.",
      descriptionKind: "markdown",
      attributes,
    },
  },

  validate: ({ config }) => checkConfig(config),

  plan({ priorState, proposedNewState, config, provider }) {
    if (proposedNewState === null || config === null) return { plannedState: null };
    const org = plannedOrganization(config, provider, priorState);
    if (org === null) return { plannedState: null, diagnostics: [missingOrganization("keyplane_identity_binding")] };

    const planned: ObjectValue = {
      ...proposedNewState,
      id: priorState?.id ?? Unknown,
      organization_id: org,
      created_at: priorState?.created_at ?? Unknown,
      updated_at: priorState?.updated_at ?? Unknown,
    };
    if (priorState !== null && UPDATABLE.some((name) => !ctyEqual(priorState[name] ?? null, planned[name] ?? null, attributes[name].type!))) {
      planned.updated_at = Unknown;
    }
    return { plannedState: planned };
  },

  async apply({ priorState, plannedState, plannedPrivate, provider: { client }, signal }) {
    if (plannedState === null) {
      const state = priorState!;
      try {
        // No If-Match: destroying should not fail over an unrelated edit. The service revokes the tokens it issued.
        await client.deleteIdentityBinding(String(state.organization_id), String(state.id), { signal });
      } catch (err) {
        return { newState: state, diagnostics: apiErrorDiagnostics(err, errors(`delete ${label(state)}`)) };
      }
      return { newState: null };
    }

    const org = String(plannedState.organization_id);
    if (priorState === null) {
      const optional = <T>(value: CtyValue | undefined) => (value === null || value === undefined ? undefined : (value as T));
      try {
        const created = await client.createIdentityBinding(
          org,
          {
            name: String(plannedState.name),
            issuer: String(plannedState.issuer),
            audience: String(plannedState.audience),
            jwks_uri: optional<string>(plannedState.jwks_uri),
            subject: String(plannedState.subject),
            claims: (plannedState.claims ?? {}) as Record<string, string>,
            role: "resolver",
            project_id: optional<string>(plannedState.project_id),
            ttl_seconds: optional<number>(plannedState.ttl_seconds),
            active: plannedState.active !== false,
          },
          signal,
        );
        return { newState: toState(created.body), private: writePrivate({ etag: created.etag }) };
      } catch (err) {
        const action = `create identity binding "${String(plannedState.name)}" in organization ${org}`;
        return {
          newState: null,
          diagnostics: apiErrorDiagnostics(
            err,
            errors(action, {
              notFoundHint: "Check organization_id (or the provider's organization_id) and that the token belongs to that organization.",
              byCode: { name_conflict: nameTaken(`${action} (import the existing one with ORG_ID/BINDING_ID)`) },
            }),
          ),
        };
      }
    }

    const patch: Record<string, unknown> = {};
    for (const name of UPDATABLE) {
      if (!ctyEqual(priorState[name] ?? null, plannedState[name] ?? null, attributes[name].type!)) patch[name] = plannedState[name] ?? null;
    }
    if (Object.keys(patch).length === 0) return { newState: { ...priorState } };
    try {
      const updated = await client.updateIdentityBinding(org, String(priorState.id), patch, readPrivate(plannedPrivate).etag, signal);
      return { newState: toState(updated.body), private: writePrivate({ etag: updated.etag }) };
    } catch (err) {
      return {
        newState: priorState,
        diagnostics: apiErrorDiagnostics(
          err,
          errors(`update ${label(priorState)}`, {
            notFoundHint: "It was deleted outside OpenTofu/Terraform; run plan again to create it anew.",
            byCode: { name_conflict: nameTaken(`rename ${label(priorState)}`) },
          }),
        ),
      };
    }
  },

  read: ({ currentState, provider, signal }) => readFetched(FETCHED, currentState, label(currentState), provider, signal),

  import: ({ id, provider, signal }) => importFetched(FETCHED, id, provider, signal),
};
