import { inTransaction, withOrganizationScope, withUniqueConflicts, type Db, type Queryable } from "../db/index.js";
import { newId } from "../ids.js";
import { IdentityRejectedError, orNotFound, TooManyRequestsError, ValidationError, type FieldError } from "../errors.js";
import { changeAudit, recordAudit, recordStandaloneAudit, type AuditActor } from "../audit/audit-service.js";
import { checkPrecondition, type TagCondition } from "../versioning.js";
import type { CallMeta } from "../auth/actor.js";
import type { UnauthenticatedDenial } from "../auth/unauthenticated-denials.js";
import { createToken } from "../tokens/token-service.js";
import { TokenBucketLimiter } from "../ratelimit/token-bucket.js";
import type { Schemas } from "../contract-types.js";
import { IssuerKeys, type KeySource } from "./issuer-keys.js";
import { mismatch, peekToken, verifyToken, type MatchFailure, type UnverifiedToken } from "./identity-token.js";
import * as dal from "./identity-dal.js";

export type IdentityBinding = Schemas["IdentityBinding"];
export type TokenExchange = Schemas["TokenExchangeResponse"];

const DEFAULT_TTL_SECONDS = 900;
/** Audit details keep at most this much of a subject (it is the workload's choice of text). */
const MAX_AUDITED_SUBJECT = 256;

const BINDING_CONFLICTS = {
  identity_bindings_organization_name_key: {
    code: "name_conflict",
    detail: "An identity binding with this name already exists in the organization.",
    field: { path: "body.name", message: "identity binding names are unique per organization" },
  },
};

const mustFind = orNotFound("identity binding", dal.findBinding);
const audit = changeAudit("identity_binding");

const MATCH_DETAIL: Record<MatchFailure, string> = {
  audience_mismatch: "The identity token's audience does not include the binding's audience.",
  subject_mismatch: "The identity token's subject does not match the binding.",
  claim_mismatch: "The identity token's claims do not match the binding.",
};

export interface IdentityOptions {
  /** KEYPLANE_ALLOW_INSECURE_ISSUERS: plain-http issuers and key sets are accepted. */
  allowInsecureIssuers: boolean;
  /** KEYPLANE_OUTBOUND_ALLOW_PRIVATE: key sets may be fetched from loopback and private addresses. */
  outboundAllowPrivate: boolean;
  exchangesPerMinute: number;
  /**
   * Refused exchanges audited one event each, per organization and minute (0: all of them). An
   * exchange carries no token and a forged identity token costs nothing, so past this the refusals
   * go to `countRefusal`, which audits them in aggregate as every other request without a token
   * is: else anyone who knows an organization id and a bound issuer could grow that organization's
   * audit log at the exchange rate limit per address.
   */
  auditedRefusalsPerMinute: number;
  countRefusal: (denial: UnauthenticatedDenial) => void;
}

/** The caller of an exchange: no token, only where the request came from. */
export interface ExchangeCaller {
  /** The client address as rate limits group it (an IPv6 /64). */
  clientKey: string;
  clientAddress: string | null;
  requestId: string;
}

/** What an exchange revoked or issued, for the routes to drop from the authentication cache. */
export interface BindingChange<T> {
  result: T;
  revokedTokenIds: string[];
}

export class IdentityService {
  private readonly keys: IssuerKeys;
  private readonly limiter: TokenBucketLimiter;
  private readonly auditedRefusals: TokenBucketLimiter;

  constructor(
    private readonly db: Db,
    private readonly options: IdentityOptions,
  ) {
    this.keys = new IssuerKeys({ allowPrivate: options.outboundAllowPrivate, allowInsecure: options.allowInsecureIssuers });
    this.limiter = new TokenBucketLimiter({ perMinute: options.exchangesPerMinute });
    this.auditedRefusals = new TokenBucketLimiter({ perMinute: options.auditedRefusalsPerMinute });
  }

  async list(organizationId: string, afterId: string | undefined, limit: number): Promise<IdentityBinding[]> {
    return (await dal.listBindings(this.db, organizationId, afterId, limit)).map(bindingToApi);
  }

  async get(organizationId: string, id: string): Promise<IdentityBinding> {
    return bindingToApi(await mustFind(this.db, organizationId, id));
  }

  async create(organizationId: string, body: Schemas["IdentityBindingCreate"], meta: CallMeta, within?: Queryable): Promise<IdentityBinding> {
    this.checkUrls(body);
    const id = newId("idb");
    return inTransaction(this.db, within, async (tx) => {
      await checkProject(tx, organizationId, body.project_id ?? null);
      await withUniqueConflicts(BINDING_CONFLICTS, () =>
        dal.insertBinding(tx, {
          id,
          organization_id: organizationId,
          name: body.name,
          issuer: body.issuer,
          audience: body.audience,
          jwks_uri: body.jwks_uri ?? null,
          subject: body.subject,
          claims: body.claims ?? {},
          role: body.role ?? "resolver",
          project_id: body.project_id ?? null,
          ttl_seconds: body.ttl_seconds ?? DEFAULT_TTL_SECONDS,
          active: body.active ?? true,
          created_by: meta.actor.tokenId,
        }),
      );
      const created = await mustFind(tx, organizationId, id);
      await audit(tx, meta, organizationId, "identity_binding.create", id, describe(created));
      return bindingToApi(created);
    });
  }

  /** Deactivating revokes the live tokens the binding issued. */
  async update(
    organizationId: string,
    id: string,
    body: Schemas["IdentityBindingUpdate"],
    ifMatch: TagCondition | undefined,
    meta: CallMeta,
    within?: Queryable,
  ): Promise<BindingChange<IdentityBinding>> {
    this.checkUrls(body);
    return inTransaction(this.db, within, async (tx) => {
      const current = await mustFind(tx, organizationId, id, true);
      checkPrecondition(ifMatch, current.version);
      const patch: dal.IdentityBindingPatch = {};
      for (const field of ["name", "audience", "jwks_uri", "subject", "claims", "role", "project_id", "ttl_seconds", "active"] as const) {
        if (body[field] !== undefined) Object.assign(patch, { [field]: body[field] });
      }
      const changed = Object.keys(patch).sort();
      if (changed.length === 0) return { result: bindingToApi(current), revokedTokenIds: [] };
      if (patch.project_id) await checkProject(tx, organizationId, patch.project_id);
      await withUniqueConflicts(BINDING_CONFLICTS, () => dal.updateBinding(tx, organizationId, id, patch));
      const revokedTokenIds = current.active && patch.active === false ? await dal.revokeBindingTokens(tx, organizationId, id) : [];
      const updated = await mustFind(tx, organizationId, id);
      await audit(tx, meta, organizationId, "identity_binding.update", id, {
        changed_fields: changed,
        ...describe(updated),
        revoked_tokens: revokedTokenIds.length,
      });
      return { result: bindingToApi(updated), revokedTokenIds };
    });
  }

  /** Deleting revokes the live tokens the binding issued (their rows stay until the exchanged-token retention deletes them). */
  async delete(organizationId: string, id: string, ifMatch: TagCondition | undefined, meta: CallMeta): Promise<BindingChange<void>> {
    return this.db.transaction(async (tx) => {
      const current = await mustFind(tx, organizationId, id, true);
      checkPrecondition(ifMatch, current.version);
      const revokedTokenIds = await dal.revokeBindingTokens(tx, organizationId, id);
      await dal.deleteBinding(tx, organizationId, id);
      await audit(tx, meta, organizationId, "identity_binding.delete", id, { ...describe(current), revoked_tokens: revokedTokenIds.length });
      return { result: undefined, revokedTokenIds };
    });
  }

  /**
   * Exchanges a workload's identity token for a short-lived token of the first active binding it
   * satisfies (or of the one named). An organization that does not exist looks like one without
   * bindings for the issuer, so the answer says nothing about which organizations exist.
   * @throws IdentityRejectedError (401 with the failed check's code); TooManyRequestsError
   */
  exchange(body: Schemas["TokenExchangeRequest"], caller: ExchangeCaller): Promise<TokenExchange> {
    return withOrganizationScope(body.organization_id, () => this.exchangeInScope(body, caller));
  }

  private async exchangeInScope(body: Schemas["TokenExchangeRequest"], caller: ExchangeCaller): Promise<TokenExchange> {
    const organizationId = body.organization_id;
    let claimed: UnverifiedToken;
    try {
      claimed = peekToken(body.identity_token);
    } catch (error) {
      if (!(error instanceof IdentityRejectedError)) throw error;
      this.takeAttempt("", caller);
      return this.refuseUnattributed(error, caller);
    }
    const candidates = (await dal.activeBindingsOfIssuer(this.db, organizationId, claimed.issuer)).filter(
      (b) => body.binding === undefined || b.id === body.binding,
    );
    // Unknown issuers (and tokens that name none) share one budget per address, so changing `iss`
    // buys no fresh attempts.
    this.takeAttempt(candidates.length > 0 ? claimed.issuer : "", caller);
    if (candidates.length === 0)
      return this.refuseUnattributed(
        new IdentityRejectedError("unknown_issuer", "No active identity binding of this organization accepts the token's issuer."),
        caller,
      );

    const denied = async (error: IdentityRejectedError, bindingId: string | null): Promise<never> => {
      if (!this.auditedRefusals.take(organizationId).allowed) {
        const { clientAddress, requestId } = caller;
        this.options.countRefusal({ organizationId, clientAddress, reason: error.code, operation: "exchangeIdentityToken", requestId });
        throw error;
      }
      await recordStandaloneAudit(this.db, {
        organizationId,
        actor: { tokenId: null, role: null },
        action: "identity.exchange",
        targetType: "identity_binding",
        targetId: bindingId,
        outcome: "denied",
        requestId: caller.requestId,
        details: { reason: error.code, issuer: claimed.issuer, claimed_subject: claimed.subject?.slice(0, MAX_AUDITED_SUBJECT) ?? null },
      });
      throw error;
    };

    const verified = new Map<string, Awaited<ReturnType<typeof verifyToken>>>();
    let firstFailure: MatchFailure | null = null;
    for (const binding of candidates) {
      const source: KeySource = { issuer: binding.issuer, jwksUri: binding.jwks_uri };
      const sourceKey = binding.jwks_uri ?? "";
      let payload = verified.get(sourceKey);
      if (payload === undefined) {
        try {
          payload = await verifyToken(body.identity_token, source, this.keys);
        } catch (error) {
          if (error instanceof IdentityRejectedError) return denied(error, body.binding ?? null);
          throw error;
        }
        verified.set(sourceKey, payload);
      }
      const failure = mismatch(binding, payload);
      if (failure === null) return this.issue(binding, payload.sub!, caller.requestId);
      // The most telling failure: a binding that got further than the others names it.
      if (firstFailure === null || MATCH_ORDER.indexOf(failure) > MATCH_ORDER.indexOf(firstFailure)) firstFailure = failure;
    }
    return denied(new IdentityRejectedError(firstFailure!, MATCH_DETAIL[firstFailure!]), body.binding ?? null);
  }

  /** @throws TooManyRequestsError when the address has used up its attempts for the issuer ("" for unknown ones). */
  private takeAttempt(issuer: string, caller: ExchangeCaller): void {
    const verdict = this.limiter.take(`${issuer}\n${caller.clientKey}`);
    if (!verdict.allowed) throw new TooManyRequestsError("Too many token exchanges from this address for this issuer; retry later.", verdict.retryAfterSeconds);
  }

  /**
   * A refusal before any binding matched the token (not a JWT, a disallowed algorithm, an issuer no
   * binding names): counted with the platform's other requests without a token. The organization
   * the request names is not known to exist, and its audit log is not a place where anyone may
   * write by sending garbage.
   */
  private refuseUnattributed(error: IdentityRejectedError, caller: ExchangeCaller): never {
    const { clientAddress, requestId } = caller;
    this.options.countRefusal({ clientAddress, reason: error.code, operation: "exchangeIdentityToken", requestId });
    throw error;
  }

  private async issue(binding: dal.IdentityBindingRow, subject: string, requestId: string): Promise<TokenExchange> {
    const expiresAt = new Date(Date.now() + binding.ttl_seconds * 1000).toISOString();
    const exchanger: AuditActor = { tokenId: null, role: null };
    return this.db.transaction(async (tx) => {
      const { token, record } = await createToken(
        tx,
        {
          organizationId: binding.organization_id,
          projectId: binding.project_id,
          role: binding.role,
          name: `identity: ${binding.name}`.slice(0, 128),
          expiresAt,
        },
        exchanger,
        requestId,
      );
      await dal.recordTokenBinding(tx, record.id, binding.id);
      await recordAudit(tx, {
        organizationId: binding.organization_id,
        actor: exchanger,
        action: "identity.exchange",
        targetType: "identity_binding",
        targetId: binding.id,
        outcome: "success",
        requestId,
        details: { issuer: binding.issuer, subject: subject.slice(0, MAX_AUDITED_SUBJECT), token_id: record.id, expires_at: expiresAt },
      });
      return { token, expires_at: expiresAt, role: binding.role, project_id: binding.project_id, binding_id: binding.id };
    });
  }

  /** Issuers and key sets are fetched over https only, unless KEYPLANE_ALLOW_INSECURE_ISSUERS is set. */
  private checkUrls(body: { issuer?: string; jwks_uri?: string | null }): void {
    if (this.options.allowInsecureIssuers) return;
    const errors: FieldError[] = [];
    for (const field of ["issuer", "jwks_uri"] as const) {
      const value = body[field];
      if (typeof value === "string" && !value.startsWith("https://")) {
        errors.push({ path: `body.${field}`, message: "must be an https URL (KEYPLANE_ALLOW_INSECURE_ISSUERS=1 allows http for local testing)" });
      }
    }
    if (errors.length > 0) throw new ValidationError(errors);
  }
}

const MATCH_ORDER: readonly MatchFailure[] = ["audience_mismatch", "subject_mismatch", "claim_mismatch"];

async function checkProject(q: Queryable, organizationId: string, projectId: string | null): Promise<void> {
  if (projectId !== null && !(await dal.projectExists(q, organizationId, projectId))) {
    throw new ValidationError([{ path: "body.project_id", message: "is not a project of this organization" }]);
  }
}

/** The row is exactly the contract's fields (the DAL selects no others); only timestamps change form. */
function bindingToApi(row: dal.IdentityBindingRow): IdentityBinding {
  return { ...row, created_at: new Date(row.created_at).toISOString(), updated_at: new Date(row.updated_at).toISOString() };
}

/** The audited facts of a binding: what decides who may exchange and what they get. */
function describe({ name, issuer, audience, subject, claims, role, project_id, ttl_seconds, active }: dal.IdentityBindingRow): Record<string, unknown> {
  return { name, issuer, audience, subject, claims, role, project_id, ttl_seconds, active };
}
