import type { Request } from "express";
import type { Logger } from "pino";
import type { Actor, CallMeta } from "../auth/actor.js";

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

/** The caller and the request, as services name them in audit events. */
export function callMetaOf(req: Request): CallMeta {
  return { actor: actorOf(req), requestId: req.kp.requestId };
}

/**
 * The client's IP address: the socket peer, or with KEYPLANE_TRUST_PROXY the client the trusted
 * proxies name in X-Forwarded-For (Express's req.ip). IPv4-mapped IPv6 addresses are unwrapped.
 */
export function clientAddress(req: Request): string | null {
  const ip = req.ip ?? req.socket.remoteAddress;
  return ip ? ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1") : null;
}
