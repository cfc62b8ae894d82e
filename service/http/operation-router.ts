import { Router, type Request, type Response } from "express";
import { withOrganizationScope, type Db } from "../db/index.js";
import type { Authenticator, AuthFailure } from "../auth/authenticate.js";
import type { UnauthenticatedDenials } from "../auth/unauthenticated-denials.js";
import { recordStandaloneAudit } from "../audit/audit-service.js";
import { organizationExists } from "../organizations/organization-dal.js";
import type { Role } from "../contract-types.js";
import { impossiblePathId, parseBody, parseQuery } from "./validation.js";
import { operationTable } from "../contract/operation-table.js";
import type { OperationId } from "../contract-types.js";
import { problems, type HttpProblem } from "./problem.js";
import type { Actor } from "../auth/actor.js";
import { clientAddress } from "./context.js";

/** May be async: the router awaits what it returns. */
export type OperationHandler = (req: Request, res: Response) => unknown;

export interface GuardHooks {
  /**
   * Called when a request's token does not verify; returns the answer to give instead of 401
   * (429 for an address over its failed-authentication budget). Requests whose token verifies
   * never reach it, so failures of others can never refuse a valid token.
   */
  onAuthFailure?: (req: Request, failure: AuthFailure) => HttpProblem | undefined;
  /** Called once the actor is known; may throw (e.g. per-token rate limits). */
  afterAuth?: (req: Request, actor: Actor) => void;
}

/**
 * Registers handlers by operationId. Method, path and allowed roles come from openapi.yaml
 * (`x-keyplane-roles`), so the contract is the single place that says who may call what.
 *
 * Order of checks: authentication (401) → organization scope (404, so a token of another
 * organization learns nothing about existence; also 404 when the organization does not exist) →
 * role (403). Denials are audited: each one of an authenticated token, those without a valid
 * token in aggregate.
 */
export class OperationRouter {
  readonly router = Router();
  private readonly registered = new Set<string>();

  constructor(
    private readonly db: Db,
    readonly authenticator: Authenticator,
    /** Requests that could not be authenticated are audited in aggregate (see UnauthenticatedDenials). */
    readonly unauthenticated: UnauthenticatedDenials,
    private readonly hooks: GuardHooks = {},
  ) {}

  handle(operationId: string, handler: OperationHandler): this {
    const op = operationTable.get(operationId);
    if (!op) throw new Error(`openapi.yaml has no operation ${operationId}`);
    if (this.registered.has(operationId)) throw new Error(`${operationId} registered twice`);
    this.registered.add(operationId);
    const roles = new Set<Role>(op.roles as Role[]);
    const guard = async (req: Request) => {
      req.kp.operationId = operationId;
      if (!op.secured) return;
      const result = await this.authenticator.authenticate(req);
      if ("failure" in result) {
        const refusal = this.hooks.onAuthFailure?.(req, result.failure);
        this.unauthenticated.record({
          clientAddress: clientAddress(req),
          reason: refusal ? "rate_limited" : result.failure,
          operation: operationId,
          requestId: req.kp.requestId,
        });
        throw refusal ?? problems.unauthenticated();
      }
      const actor = result.actor;
      req.kp.actor = actor;
      // A path id that cannot exist (`%00`, another kind's prefix) names nothing; it must reach
      // neither a query nor the audit log.
      const impossible = impossiblePathId(operationId as OperationId, req.params);
      if (impossible !== null) throw problems.notFound(impossible);
      const orgParam = typeof req.params.org === "string" ? req.params.org : undefined;
      if (orgParam !== undefined && actor.role !== "platform_admin" && actor.organizationId !== orgParam) {
        await this.auditDenied(req, actor, "other_organization", { requested_organization_id: orgParam.slice(0, 128) });
        throw problems.notFound("organization");
      }
      // Anything under an organization that does not exist is a 404, never an empty list or a
      // foreign-key error. An organization's own tokens are deleted with it, so only platform
      // admins, who belong to none, need the lookup (the resolve path stays query-free).
      if (orgParam !== undefined && actor.role === "platform_admin" && !(await organizationExists(this.db, orgParam))) {
        throw problems.notFound("organization");
      }
      if (!roles.has(actor.role)) {
        await this.auditDenied(req, actor, "role_not_allowed", {});
        throw problems.forbidden(`The ${actor.role} role may not call ${operationId}.`);
      }
      this.hooks.afterAuth?.(req, actor);
      // Handlers parse what their operation declares; here, operations that declare no query or
      // no body refuse stray input, so no request is half-understood.
      if (op.queryParams.length === 0 && Object.keys(req.query).length > 0) parseQuery(operationId as OperationId, req.query);
      if (op.requestBody === "none") parseBody(operationId as OperationId, req.body);
    };
    this.router[op.method](op.expressPath, async (req: Request, res: Response) => {
      await guard(req);
      // Row-level security: everything the handler reads or writes is confined to the organization
      // in the path (the guard has checked the caller may act in it).
      const org = typeof req.params.org === "string" ? req.params.org : undefined;
      if (org === undefined) await handler(req, res);
      else await withOrganizationScope(org, () => handler(req, res));
    });
    return this;
  }

  /** Operations of the contract that have no handler yet: a test asserts this is empty. */
  missing(): string[] {
    return [...operationTable.values()].filter((op) => op.secured && !this.registered.has(op.operationId)).map((op) => op.operationId);
  }

  /** One event per denial of an authenticated token: a token holder cannot send them unnoticed. */
  private async auditDenied(req: Request, actor: Actor, reason: string, details: Record<string, unknown>): Promise<void> {
    await recordStandaloneAudit(this.db, {
      organizationId: actor.organizationId,
      actor: { tokenId: actor.tokenId, role: actor.role },
      action: "auth.denied",
      targetType: "request",
      targetId: typeof req.params.id === "string" ? req.params.id.slice(0, 128) : null,
      outcome: "denied",
      requestId: req.kp.requestId,
      details: { reason, operation: req.kp.operationId, method: req.method, client_address: clientAddress(req), ...details },
    });
  }
}
