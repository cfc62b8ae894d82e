import type { Role } from "../contract-types.js";
import { NotFoundError } from "../errors.js";

/** Who is calling: the token authentication found, as services record it in audit events. */
export interface Actor {
  tokenId: string;
  role: Role;
  /** null for platform admins, who belong to no organization. */
  organizationId: string | null;
  /** The project a (resolver) token is confined to; null when it acts for its whole organization. */
  projectId: string | null;
}

/** A caller and the request it made: what a service names in the audit events of the call. */
export interface CallMeta {
  actor: Actor;
  requestId: string;
}

/**
 * The project a call acts for. A token confined to a project acts for it when the request names
 * none, and another project is as unknown to it as one that does not exist.
 * @throws NotFoundError when a confined token names another project.
 */
export function projectOfCall(actor: Actor, requested: string | undefined): string | undefined {
  if (actor.projectId === null) return requested;
  if (requested !== undefined && requested !== actor.projectId) throw new NotFoundError("project");
  return actor.projectId;
}
