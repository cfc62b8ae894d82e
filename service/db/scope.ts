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

/** The role the service's queries run as once scoping is enforced (see migration 0003). */
export const APP_ROLE = "keyplane_app";
