import type { Role } from "../contract-types.js";

/** Who is calling: the token authentication found, as services record it in audit events. */
export interface Actor {
  tokenId: string;
  role: Role;
  /** null for platform admins, who belong to no organization. */
  organizationId: string | null;
}

/** A caller and the request it made: what a service names in the audit events of the call. */
export interface CallMeta {
  actor: Actor;
  requestId: string;
}
