// Shared by the resources, data sources and the ephemeral resource: the organization a block works
// in, and Keyplane API errors turned into diagnostics that read as sentences and point at the
// attribute the service blamed.
import { ApiError } from "../client/keyplane-client.js";
import {
  diag,
  isUnknown,
  key,
  Unknown,
  type AttributePath,
  type AttributeSchema,
  type CtyType,
  type CtyValue,
  type Diagnostic,
  type ObjectValue,
  type PathStep,
} from "../protocol/index.js";
import type { KeyplaneProviderData } from "../provider-data.js";

/** A known, non-empty string value, else undefined. */
export function stringOf(value: CtyValue | undefined): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The block's own organization_id, else the provider's default; undefined when neither is set. */
export function organizationOf(value: CtyValue | undefined, provider: KeyplaneProviderData): string | undefined {
  return stringOf(value) ?? (isUnknown(value) ? undefined : provider.organizationId);
}

/**
 * The organization_id to plan, like a provider-level default region: the block's own, else the
 * provider's, else (once created) the one the object has; unknown while the block's is; null when
 * there is none (see missingOrganization). A different one means another home, i.e. a replacement.
 */
export function plannedOrganization(config: ObjectValue, provider: KeyplaneProviderData, priorState: ObjectValue | null): CtyValue {
  if (isUnknown(config.organization_id)) return Unknown;
  return organizationOf(config.organization_id, provider) ?? stringOf(priorState?.organization_id) ?? null;
}

export function missingOrganization(what: string): Diagnostic {
  return diag.error(
    "No organization",
    `${what} needs an organization: set organization_id here, or organization_id in the keyplane provider block (or KEYPLANE_ORGANIZATION_ID).`,
    ["organization_id"],
  );
}

export interface ErrorContext {
  /** What was being done, completing "Could not …", e.g. `create project "web"`. */
  action: string;
  /** The block's attributes: a service field path is mapped onto them (map attributes take a key step). */
  attributes: Record<string, AttributeSchema>;
  /** Service field names that differ from attribute names, e.g. `{ provider: "provider_type", org: "organization_id" }`. */
  renames?: Record<string, string>;
  /** Diagnostics for particular error codes (e.g. `project_not_empty`), replacing the generic ones. */
  byCode?: Record<string, (err: ApiError) => Diagnostic[]>;
  /** Added to a 403 explanation, e.g. which role the operation needs. */
  forbiddenHint?: string;
  /** Added to a 404 explanation. */
  notFoundHint?: string;
}

/**
 * `body.settings.region` → `["settings", key("region")]` when `settings` is a map attribute of the
 * block; undefined when the field is not an attribute (the message still names it).
 */
export function attributePathOf(field: string, ctx: Pick<ErrorContext, "attributes" | "renames">): AttributePath | undefined {
  const [, ...segments] = field.split(".");
  if (segments.length === 0) return undefined;
  const first = ctx.renames?.[segments[0]] ?? segments[0];
  const attr = Object.hasOwn(ctx.attributes, first) ? ctx.attributes[first] : undefined;
  if (!attr) return undefined;
  const path: PathStep[] = [first];
  const kind = Array.isArray(attr.type) ? (attr.type as Exclude<CtyType, string>)[0] : undefined;
  // Only one level below a map or list attribute is meaningful for Keyplane's flat fields.
  if (segments.length > 1 && kind === "map") path.push(key(segments[1]));
  else if (segments.length > 1 && kind === "list" && /^\d+$/.test(segments[1])) path.push(Number(segments[1]));
  return path;
}

function attributeName(field: string, ctx: Pick<ErrorContext, "attributes" | "renames">): string {
  const path = attributePathOf(field, ctx);
  if (!path) return field.replace(/^(body|query|path|header)\./, "");
  return path
    .map((s) => (typeof s === "string" ? s : typeof s === "number" ? `[${s}]` : `["${s.key}"]`))
    .join(".")
    .replace(/\.\[/g, "[");
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/**
 * Diagnostics for a failed API call, for the caller to return. Anything but an ApiError is a bug and
 * is rethrown (the protocol layer reports it). ApiError messages never hold secrets, so they are
 * safe to show.
 */
export function apiErrorDiagnostics(err: unknown, ctx: ErrorContext): Diagnostic[] {
  if (!(err instanceof ApiError)) throw err;
  const special = ctx.byCode?.[err.code];
  if (special) return special(err);
  const what = `Could not ${ctx.action}`;

  if (err.code === "cancelled") return [diag.error("Operation cancelled", `${what}: the operation was interrupted.`)];
  if (err.unreachable) {
    return [
      diag.error(
        "Keyplane service unreachable",
        `${what}. ${sentence(err.message)} Check the provider's endpoint (or KEYPLANE_ENDPOINT) and that the service is running.`,
      ),
    ];
  }
  if (err.fieldErrors.length > 0 && (err.status === 400 || err.status === 409 || err.status === 422)) {
    return err.fieldErrors.map((fe) => {
      const name = attributeName(fe.path, ctx);
      return diag.error(
        err.status === 409 ? "Conflict in Keyplane" : `Invalid ${name}`,
        `${what}: the Keyplane service rejected ${name}: ${sentence(fe.message)}${err.status === 409 ? ` ${sentence(err.message)}` : ""}`,
        attributePathOf(fe.path, ctx),
      );
    });
  }
  switch (err.status) {
    case 401:
      return [
        diag.error(
          "Keyplane token rejected",
          `${what}: ${sentence(err.message)} Set token in the keyplane provider block (or KEYPLANE_TOKEN) to a valid, unexpired Keyplane API token.`,
        ),
      ];
    case 403:
      return [diag.error("Keyplane token not allowed", `${what}: ${sentence(err.message)}${ctx.forbiddenHint ? ` ${ctx.forbiddenHint}` : ""}`)];
    case 404:
      return [diag.error("Not found in Keyplane", `${what}: ${sentence(err.message)}${ctx.notFoundHint ? ` ${ctx.notFoundHint}` : ""}`)];
    case 412:
      return [
        diag.error(
          "Changed outside Terraform",
          `${what}: it was changed by someone else since OpenTofu/Terraform last read it. ${sentence(err.message)} Run plan again to see the current values, then apply.`,
        ),
      ];
    case 429:
      return [diag.error("Keyplane rate limit reached", `${what}: ${sentence(err.message)} Wait a moment and run the command again.`)];
    case 503:
      return [diag.error("Keyplane service unavailable", `${what}: ${sentence(err.message)} Try again once the service is healthy.`)];
    default:
      return [diag.error(`Could not ${ctx.action}`, `${sentence(err.message)} (HTTP ${err.status}, ${err.code})`)];
  }
}
