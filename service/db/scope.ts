import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The organization scope that row-level security enforces for the current async context. Request
 * handlers of organization routes run inside their organization's scope; the service's own
 * cross-organization work (authentication, platform listings, maintenance, the CLI) runs with
 * ALL_ORGANIZATIONS, the default outside any scope.
 */
export const ALL_ORGANIZATIONS = "*";

const storage = new AsyncLocalStorage<string>();

export function withOrganizationScope<T>(organizationId: string, fn: () => T): T {
  return storage.run(organizationId, fn);
}

export function currentOrganizationScope(): string {
  return storage.getStore() ?? ALL_ORGANIZATIONS;
}

/**
 * Once scoping is enforced, statements in an organization's scope run as keyplane_app (rows of that
 * organization only) and those in the '*' scope as keyplane_platform (see migration 0004).
 */
const APP_ROLE = "keyplane_app";
const PLATFORM_ROLE = "keyplane_platform";

/** Whether the login role may switch to both roles; when not, its own rights and policies apply. */
export const SCOPE_ROLES_USABLE_SQL = `select count(*)::int = 2 as usable from pg_roles
  where rolname in ('${APP_ROLE}', '${PLATFORM_ROLE}') and pg_has_role(current_user, oid, 'MEMBER')`;

/** The session role for a scope: `none` is the login role itself. */
export function roleForScope(scope: string, rolesUsable: boolean): string {
  if (!rolesUsable) return "none";
  return scope === ALL_ORGANIZATIONS ? PLATFORM_ROLE : APP_ROLE;
}
