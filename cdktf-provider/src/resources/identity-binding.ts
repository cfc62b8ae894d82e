// keyplane_identity_binding: which workload identities (an OIDC issuer, audience, subject and
// claims) may exchange their platform's identity token for a short-lived Keyplane token, and what
// that token may do (role, project, lifetime). Nothing here is secret: who may get a token is an
// ordinary reviewed plan.
// Planned, written (If-Match guarded), read and imported by guarded-resource.ts.
import type { IdentityBinding } from "../client/keyplane-client.js";
import { diag, isUnknown, key, t, type AttributeSchema, type CtyValue, type Diagnostic, type ObjectValue } from "../protocol/index.js";
import { guardedResource, presentOrUndefined } from "./guarded-resource.js";

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

const nameTaken = (what: string) => (e: { message: string }) => [
  diag.error("Identity binding name already taken", `Could not ${what}: ${e.message} Names are unique per organization.`, ["name"]),
];

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

export const identityBindingResource = guardedResource<IdentityBinding>({
  noun: "identity binding",
  description:
    "A Keyplane identity binding: workloads whose platform identity token (a Kubernetes service-account token, a GitHub Actions " +
    "OIDC token) matches its issuer, audience, subject and claims may exchange it for a short-lived Keyplane token. " +
    "Import with `ORG_ID/BINDING_ID`.",
  attributes,
  // The issuer and the organization are fixed (a replacement).
  updatable: ["name", "audience", "jwks_uri", "subject", "claims", "role", "project_id", "ttl_seconds", "active"],
  importId: { resource: "keyplane_identity_binding", idName: "BINDING_ID", example: "org_01J…/idb_01J…", bareIdAllowed: true },
  renames: { org: "organization_id" },
  forbiddenHint: "Managing identity bindings needs an admin (or platform-admin) token of the organization.",
  createNotFoundHint: "Check organization_id (or the provider's organization_id) and that the token belongs to that organization.",
  createNameTaken: (action) => nameTaken(`${action} (import the existing one with ORG_ID/BINDING_ID)`),
  renameNameTaken: (label) => nameTaken(`rename ${label}`),
  validate: checkConfig,
  toState,
  get: (client, org, id, signal) => client.getIdentityBinding(org, id, signal),
  create: (client, org, planned, signal) =>
    client.createIdentityBinding(
      org,
      {
        name: String(planned.name),
        issuer: String(planned.issuer),
        audience: String(planned.audience),
        jwks_uri: presentOrUndefined<string>(planned.jwks_uri),
        subject: String(planned.subject),
        claims: (planned.claims ?? {}) as Record<string, string>,
        role: "resolver",
        project_id: presentOrUndefined<string>(planned.project_id),
        ttl_seconds: presentOrUndefined<number>(planned.ttl_seconds),
        active: planned.active !== false,
      },
      signal,
    ),
  update: (client, org, id, patch, ifMatch, signal) => client.updateIdentityBinding(org, id, patch, ifMatch, signal),
  // The service revokes the tokens the binding issued.
  delete: (client, org, id, signal) => client.deleteIdentityBinding(org, id, { signal }),
});
