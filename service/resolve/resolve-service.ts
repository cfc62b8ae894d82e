// Run-time resolution: which secret an AI feature gets for a provider, and the same
// for every provider at once as environment variables. Read-only apart from the audit trail.
import { createHash } from "node:crypto";
import type { Db } from "../db/index.js";
import type { MasterKeyring } from "../crypto/index.js";
import { findProvider, PROVIDERS, type ProviderEntry } from "../providers/catalog.js";
import { ForbiddenError, NotFoundError, ValidationError, type DomainError } from "../errors.js";
import { ifNoneMatchMatches, type TagCondition } from "../versioning.js";
import type { CallMeta } from "../auth/actor.js";
import type { Schemas } from "../contract-types.js";
import type { AuditEventInput, AuditOutcome } from "../audit/audit-service.js";
import type { AuditBatcher } from "../audit/audit-batch.js";
import { openSecretValues } from "../credentials/credential-secrets.js";
import type { PlatformKeys } from "./platform-keys.js";
import type { CandidateCache, OrganizationCache } from "./candidate-cache.js";
import {
  findAliasScope,
  findEnvironmentCandidates,
  findPinnedCandidate,
  findResolveCandidate,
  type AliasScopeRow,
  type CandidateRow,
  type ScopedAlias,
} from "./resolve-dal.js";
import { AliasGraph } from "../model-aliases/alias-graph.js";
import { credentialVariables } from "./environment-variables.js";
import { variableNameProblem } from "../providers/env-var-names.js";

export type ResolveResponse = Schemas["ResolveResponse"];
export type ResolutionSource = Schemas["ResolutionSource"];
type ResolutionCheck = Schemas["ResolutionCheck"];

export interface ResolveInput {
  provider: string;
  projectId?: string;
  environment?: string;
  version?: "current" | "previous";
}

export interface AliasResolveInput {
  alias: string;
  projectId?: string;
  environment?: string;
  version?: "current" | "previous";
}

/** What serving one candidate row came to; `details` go to the audit event. */
type Outcome =
  | { kind: "served"; response: ResolveResponse; credentialId: string | null; details: Record<string, unknown> }
  | { kind: "refused"; error: DomainError; credentialId: string | null; details: Record<string, unknown> }
  | { kind: "nothing" };

/** Whose environment: the organization's, or a project's, optionally narrowed to an environment label. */
export interface EnvironmentScope {
  projectId?: string;
  environment?: string;
}

export type EnvironmentResult = { notModified: true; etag: string } | { notModified: false; etag: string; variables: Record<string, string> };

/** One provider's pick for the environment: a credential row or the platform key. */
type Choice = { provider: ProviderEntry; source: ResolutionSource; row: CandidateRow | null };

export class Resolver {
  constructor(
    private readonly db: Db,
    private readonly keyring: MasterKeyring,
    private readonly platformKeys: PlatformKeys,
    private readonly audit: AuditBatcher,
    private readonly candidates: CandidateCache,
    private readonly aliasScopes: OrganizationCache<AliasScopeRow>,
  ) {}

  async resolve(organizationId: string, input: ResolveInput, meta: CallMeta): Promise<ResolveResponse> {
    const provider = findProvider(input.provider);
    if (!provider) {
      throw new ValidationError([{ path: "body.provider", message: "not a provider of the catalog (GET /v1/providers lists them)" }]);
    }
    const { projectId, environment, previous } = scopeOf(input);
    const row = await this.candidate(organizationId, provider.id, projectId, environment, previous);
    if (!row) throw new NotFoundError("organization");

    const auditBase = {
      provider: provider.id,
      project_id: projectId,
      environment,
      version: previous ? "previous" : "current",
      ...(row.skipped_inactive?.length ? { skipped_inactive: row.skipped_inactive } : {}),
    };
    const fail = async (error: DomainError, details: Record<string, unknown>, targetId = row.credential_id): Promise<never> => {
      await this.record(meta, organizationId, "failure", targetId, { ...auditBase, ...details, reason: error.code });
      throw error;
    };
    if (row.resolve_policy === "aliases_only") {
      await this.record(meta, organizationId, "denied", null, { ...auditBase, reason: "alias_required" });
      throw new ForbiddenError("This organization resolves through model aliases only: send `alias` instead of `provider`.", "alias_required");
    }
    if (projectId !== null && row.project_found === null) return fail(new NotFoundError("project"), {});

    const outcome = await this.serve(organizationId, provider, row, previous);
    if (outcome.kind === "refused") return fail(outcome.error, outcome.details, outcome.credentialId);
    if (outcome.kind === "served") {
      await this.record(meta, organizationId, "success", outcome.credentialId, { ...auditBase, ...outcome.details });
      return outcome.response;
    }
    const checked = checkedSteps(row, projectId, environment);
    return fail(
      new NotFoundError(
        "credential",
        "no_credential",
        `No active credential for provider ${provider.id}${environment === null ? "" : ` in environment ${environment}`}; checked: ${checked.map((c) => c.source).join(", ")}.`,
        { checked },
      ),
      { checked: checked.map((c) => c.source) },
    );
  }

  /**
   * Resolves a model alias: its pinned credential while that is active, else its provider by the
   * usual order (narrowed by the alias's environment, else the caller's), else its fallbacks,
   * depth-first, each alias at most once. One audit event tells the whole chain.
   */
  async resolveAlias(organizationId: string, input: AliasResolveInput, meta: CallMeta): Promise<ResolveResponse> {
    const { projectId, environment, previous } = scopeOf(input);
    const scope = await this.aliasScope(organizationId, projectId);
    if (!scope) throw new NotFoundError("organization");

    const chain: string[] = [];
    // Inactive credentials the chain passed over (inactive pins, and those the provider-level
    // order ranks first), named like a provider-level resolve names them: usage counts them.
    const skipped = new Set<string>();
    const auditBase = { alias: input.alias, project_id: projectId, environment, version: previous ? "previous" : "current" };
    const skippedDetails = () => (skipped.size ? { skipped_inactive: [...skipped].sort() } : {});
    const fail = async (error: DomainError, details: Record<string, unknown>, targetId: string | null = null): Promise<never> => {
      await this.record(meta, organizationId, "failure", targetId, { ...auditBase, alias_chain: chain, ...skippedDetails(), ...details, reason: error.code });
      throw error;
    };
    if (projectId !== null && scope.project_found === null) return fail(new NotFoundError("project"), {});

    const graph = new AliasGraph(scope.aliases, () => scope.inherits === true);
    const requested = graph.lookup(projectId, input.alias);
    const checked: ResolutionCheck[] = [];
    if (!requested) {
      if (projectId !== null) checked.push({ source: "project", project_id: projectId });
      if (projectId === null || scope.inherits) checked.push({ source: "organization" });
      return fail(
        new NotFoundError("model alias", "no_credential", `No active model alias ${input.alias}; checked: ${checked.map((c) => c.source).join(", ")}.`, {
          checked,
        }),
        { checked: checked.map((c) => c.source) },
      );
    }
    for (const alias of graph.walk(requested)) {
      chain.push(alias.name);
      const outcome = await this.serveAlias(organizationId, alias, projectId, environment, previous, checked, skipped);
      if (outcome.kind === "nothing") continue;
      const aliasDetails = { provider: alias.provider, alias_id: alias.id, model: alias.model };
      if (outcome.kind === "refused") return fail(outcome.error, { ...aliasDetails, ...outcome.details }, outcome.credentialId);
      await this.record(meta, organizationId, "success", outcome.credentialId, {
        ...auditBase,
        ...aliasDetails,
        alias_chain: chain,
        ...skippedDetails(),
        ...outcome.details,
      });
      return { ...outcome.response, alias: alias.name, alias_id: alias.id, model: alias.model, params: alias.params, alias_chain: chain };
    }
    return fail(
      new NotFoundError(
        "credential",
        "no_credential",
        `No active credential for model alias ${input.alias} (tried ${chain.join(", ")}); checked: ${[...new Set(checked.map((c) => c.source))].join(", ")}.`,
        { checked },
      ),
      { checked: checked.map((c) => c.source) },
    );
  }

  /**
   * One alias of a chain: its pin if active, else its provider; a miss adds what it checked, and
   * every inactive credential passed over goes to `skipped`.
   */
  private async serveAlias(
    organizationId: string,
    alias: ScopedAlias,
    projectId: string | null,
    requestEnvironment: string | null,
    previous: boolean,
    checked: ResolutionCheck[],
    skipped: Set<string>,
  ): Promise<Outcome> {
    const provider = findProvider(alias.provider);
    if (!provider) return { kind: "nothing" };
    if (alias.credential_id !== null) {
      const credentialId = alias.credential_id;
      const key = `pin\u0000${credentialId}\u0000${previous ? 1 : 0}`;
      const pinned = await this.candidates.get(organizationId, key, () => findPinnedCandidate(this.db, { organizationId, credentialId, previous }));
      if (pinned?.credential_id) return this.serve(organizationId, provider, pinned, previous);
      for (const id of pinned?.skipped_inactive ?? []) skipped.add(id);
    }
    const environment = alias.environment ?? requestEnvironment;
    const row = await this.candidate(organizationId, provider.id, projectId, environment, previous);
    if (!row) return { kind: "nothing" };
    for (const id of row.skipped_inactive ?? []) skipped.add(id);
    const outcome = await this.serve(organizationId, provider, row, previous);
    if (outcome.kind === "nothing") checked.push(...checkedSteps(row, projectId, environment));
    return outcome;
  }

  private candidate(organizationId: string, provider: string, projectId: string | null, environment: string | null, previous: boolean) {
    // Project ids and environment names are free text: the key separates them with a NUL.
    const key = `${provider}\u0000${projectId ?? ""}\u0000${environment ?? "\u0000"}\u0000${previous ? 1 : 0}`;
    return this.candidates.get(organizationId, key, () => findResolveCandidate(this.db, { organizationId, projectId, environment, provider, previous }));
  }

  private aliasScope(organizationId: string, projectId: string | null): Promise<AliasScopeRow | null> {
    return this.aliasScopes.get(organizationId, projectId ?? "", () => findAliasScope(this.db, { organizationId, projectId }));
  }

  /** The providers the active aliases visible from a scope name (what `aliases_only` lets environment export). */
  private async aliasProviders(organizationId: string, projectId: string | null): Promise<Set<string>> {
    const scope = await this.aliasScope(organizationId, projectId);
    const visible = (scope?.aliases ?? []).filter((a) => a.project_id !== null || projectId === null || scope?.inherits === true);
    return new Set(visible.map((a) => a.provider));
  }

  /** What a candidate row gives: a secret to hand out, a refusal, or nothing to serve. */
  private async serve(organizationId: string, provider: ProviderEntry, row: CandidateRow, previous: boolean): Promise<Outcome> {
    if (row.credential_id !== null) {
      const source: ResolutionSource = row.credential_project_id === null ? "organization" : "project";
      if (previous && (row.served_key_version === null || !row.served_usable)) {
        const error = noPreviousVersion(`Credential ${row.credential_id} has no previous key within a rotation grace period.`);
        return { kind: "refused", error, credentialId: row.credential_id, details: { source } };
      }
      if (this.lacksMasterKey(row)) await this.keyring.ensure(row.master_key_id!);
      const values = this.decrypt(organizationId, row);
      return {
        kind: "served",
        credentialId: row.credential_id,
        details: { source, key_version: row.served_key_version, key_hint: row.served_key_hint },
        response: {
          ...(row.type === "api_token" ? { secret: values.api_key } : { fields: values }),
          source,
          provider: provider.id,
          credential_id: row.credential_id,
          key_hint: row.served_key_hint!,
          key_version: row.served_key_version,
          api_base: row.api_base,
          env_var: row.env_var!,
          settings: row.settings ?? {},
        },
      };
    }
    const platform = row.platform_fallback ? this.platformKeys.get(provider.id) : undefined;
    if (!platform) return { kind: "nothing" };
    if (previous)
      return { kind: "refused", error: noPreviousVersion("The platform key has no previous version."), credentialId: null, details: { source: "platform" } };
    return {
      kind: "served",
      credentialId: null,
      details: { source: "platform", key_version: null, key_hint: platform.hint },
      response: {
        secret: platform.value,
        source: "platform",
        provider: provider.id,
        credential_id: null,
        key_hint: platform.hint,
        key_version: null,
        api_base: provider.default_api_base,
        env_var: provider.default_env_var,
        settings: {},
      },
    };
  }

  /**
   * Every provider resolved at once. The ETag is a digest of what decides the variables (each
   * chosen credential's id, key_version and version, each platform key's keyed digest, and the
   * request's scope), so it changes with any rotation, activation, deletion or edit that changes
   * a variable, and a 304 needs no decryption.
   */
  async environment(organizationId: string, input: EnvironmentScope & { ifNoneMatch?: TagCondition }, meta: CallMeta): Promise<EnvironmentResult> {
    const projectId = input.projectId ?? null;
    const environment = input.environment ?? null;
    const choices = await this.environmentChoices(organizationId, projectId, environment);
    const etag = this.environmentEtag(projectId, environment, choices);
    const auditDetails = {
      project_id: projectId,
      environment,
      resolved: choices.map((c) => ({
        provider: c.provider.id,
        source: c.source,
        credential_id: c.row?.credential_id ?? null,
        key_version: c.row?.served_key_version ?? null,
        key_hint: c.row?.served_key_hint ?? this.platformKeys.get(c.provider.id)?.hint ?? null,
      })),
    };
    if (input.ifNoneMatch !== undefined && ifNoneMatchMatches(input.ifNoneMatch, etag)) {
      await this.record(meta, organizationId, "success", projectId, { ...auditDetails, not_modified: true }, "environment.resolve", "environment");
      return { notModified: true, etag };
    }

    const variables: Record<string, string> = {};
    for (const choice of choices) if (choice.row && this.lacksMasterKey(choice.row)) await this.keyring.ensure(choice.row.master_key_id!);
    // Credentials written before a name was refused still hold it: such a variable is left out
    // (the rest of the environment still serves) and the audit event names it for the admins.
    const refused = new Set<string>();
    for (const choice of choices) {
      const pairs = choice.row
        ? credentialVariables(choice.provider, choice.row.env_var!, this.decrypt(organizationId, choice.row), choice.row.settings ?? {})
        : [[choice.provider.default_env_var, this.platformKeys.get(choice.provider.id)!.value] as [string, string]];
      for (const [name, value] of pairs) {
        if (variableNameProblem(name)) refused.add(name);
        else if (!Object.hasOwn(variables, name)) variables[name] = value;
      }
    }
    const refusedDetails = refused.size ? { refused_variables: [...refused].sort() } : {};
    await this.record(
      meta,
      organizationId,
      "success",
      projectId,
      { ...auditDetails, ...refusedDetails, not_modified: false },
      "environment.resolve",
      "environment",
    );
    return { notModified: false, etag, variables };
  }

  /** The environment's current ETag alone: no decryption, no audit event. What a long-poll compares on each change. */
  async environmentTag(organizationId: string, input: EnvironmentScope): Promise<string> {
    const projectId = input.projectId ?? null;
    const environment = input.environment ?? null;
    return this.environmentEtag(projectId, environment, await this.environmentChoices(organizationId, projectId, environment));
  }

  private async environmentChoices(organizationId: string, projectId: string | null, environment: string | null): Promise<Choice[]> {
    const rows = await findEnvironmentCandidates(this.db, { organizationId, projectId, environment });
    if (rows.length === 0) throw new NotFoundError("organization");
    if (projectId !== null && rows[0].project_found === null) throw new NotFoundError("project");

    const byProvider = new Map(rows.filter((r) => r.credential_id !== null).map((r) => [r.provider!, r]));
    const allowed = rows[0].resolve_policy === "aliases_only" ? await this.aliasProviders(organizationId, projectId) : null;
    const choices: Choice[] = [];
    for (const provider of PROVIDERS) {
      if (allowed && !allowed.has(provider.id)) continue;
      const row = byProvider.get(provider.id);
      if (row) choices.push({ provider, source: row.credential_project_id === null ? "organization" : "project", row });
      else if (rows[0].platform_fallback && this.platformKeys.get(provider.id)) choices.push({ provider, source: "platform", row: null });
    }
    // On a name clash the more specific source wins (project, organization, platform), then catalog order.
    const rank: Record<ResolutionSource, number> = { project: 0, organization: 1, platform: 2 };
    return choices.sort((a, b) => rank[a.source] - rank[b.source]);
  }

  private environmentEtag(projectId: string | null, environment: string | null, choices: Choice[]): string {
    const hash = createHash("sha256").update(`env1\u0000${projectId ?? ""}\u0000${environment ?? ""}`);
    for (const c of choices) {
      const identity = c.row ? `${c.row.credential_id}:${c.row.served_key_version}:${c.row.version}` : this.platformKeys.get(c.provider.id)!.digest;
      hash.update(`\u0000${c.provider.id}:${c.source}:${identity}`);
    }
    return `"env-${hash.digest("base64url")}"`;
  }

  /**
   * A rotation run by another process re-wraps data keys under a key this process may not hold
   * yet. Checked inline so that the usual case (the key is held) costs no await on the resolve path.
   */
  private lacksMasterKey(row: CandidateRow): boolean {
    return row.master_key_id !== null && !this.keyring.has(row.master_key_id);
  }

  private decrypt(organizationId: string, row: CandidateRow): Record<string, string> {
    return openSecretValues(this.keyring, row, { organizationId, credentialId: row.credential_id!, keyVersion: row.served_key_version! });
  }

  private record(
    meta: CallMeta,
    organizationId: string,
    outcome: AuditOutcome,
    targetId: string | null,
    details: Record<string, unknown>,
    action = "credential.resolve",
    targetType = "credential",
  ): Promise<void> {
    const event: AuditEventInput = {
      organizationId,
      actor: { tokenId: meta.actor.tokenId, role: meta.actor.role },
      action,
      targetType,
      targetId,
      outcome,
      requestId: meta.requestId,
      details,
    };
    return this.audit.record(event);
  }
}

function scopeOf(input: { projectId?: string; environment?: string; version?: "current" | "previous" }) {
  return { projectId: input.projectId ?? null, environment: input.environment ?? null, previous: input.version === "previous" };
}

/** The steps a resolution that found nothing went through, for `checked`. */
function checkedSteps(row: CandidateRow, projectId: string | null, environment: string | null): ResolutionCheck[] {
  const checked: ResolutionCheck[] = [];
  const narrowed = environment === null ? {} : { environment };
  if (projectId !== null) checked.push({ source: "project", project_id: projectId, ...narrowed });
  if (projectId === null || row.inherits) checked.push({ source: "organization", ...narrowed });
  if (row.platform_fallback) checked.push({ source: "platform" });
  return checked;
}

function noPreviousVersion(detail: string): NotFoundError {
  return new NotFoundError("previous version", "no_previous_version", detail);
}
