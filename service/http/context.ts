import type { Request } from "express";
import type { Logger } from "pino";
import type { Role } from "../tokens/token-service.js";

export interface Actor {
  tokenId: string;
  role: Role;
  /** null for platform admins, who belong to no organization. */
  organizationId: string | null;
}

export interface RequestContext {
  requestId: string;
  readonly log: Logger;
  actor: Actor | null;
  /** The operationId from openapi.yaml that matched, for metrics, audit and errors. */
  operationId: string | null;
}

declare module "express-serve-static-core" {
  interface Request {
    kp: RequestContext;
  }
}

export function actorOf(req: Request): Actor {
  if (!req.kp.actor) throw new Error("route registered without authentication");
  return req.kp.actor;
}

/**
 * The client's IP address: the socket peer, or with KEYPLANE_TRUST_PROXY the client the trusted
 * proxies name in X-Forwarded-For (Express's req.ip). IPv4-mapped IPv6 addresses are unwrapped.
 */
export function clientAddress(req: Request): string | null {
  const ip = req.ip ?? req.socket.remoteAddress;
  return ip ? ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1") : null;
}
