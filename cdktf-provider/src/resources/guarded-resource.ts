// The resources whose whole state is one object of the API (keyplane_project,
// keyplane_model_alias, keyplane_identity_binding). The service's ETag travels in private state so
// updates are If-Match guarded: a change made by someone else between plan and apply fails with 412
// instead of being overwritten. Refresh and import read the object with one GET, and a 404 on
// refresh drops it so the next plan creates it again.
import type { ApiError, KeyplaneClient, Versioned } from "../client/keyplane-client.js";
import { ctyEqual, diag, Unknown, type AttributeSchema, type CtyValue, type Diagnostic, type ManagedResource, type ObjectValue } from "../protocol/index.js";
import type { KeyplaneProviderData } from "../provider-data.js";
import { apiErrorDiagnostics, missingOrganization, plannedOrganization, type ErrorContext } from "./api-diagnostics.js";
import { parseImportId, type ImportIdForm } from "./import-id.js";
import { readPrivate, writePrivate } from "./private-state.js";

/** A planned attribute for a create body: absent when null. */
export const presentOrUndefined = <T>(value: CtyValue | undefined) => (value === null || value === undefined ? undefined : (value as T));

type Explain = (err: ApiError) => Diagnostic[];

export interface GuardedObject<T> {
  /** e.g. "model alias": names the object in messages and completes "Cannot import non-existent …". */
  noun: string;
  /** The block's description; `attributes` are the block's attributes. */
  description: string;
  attributes: Record<string, AttributeSchema>;
  /** What PATCH can change; any other attribute never changes or forces a replacement. */
  updatable: readonly string[];
  importId: ImportIdForm;
  /** Service field names that differ from attribute names (see ErrorContext). */
  renames: Record<string, string>;
  /** Added to a 403 explanation: which role managing the object needs. */
  forbiddenHint: string;
  /** Added to a 404 explanation of a create. */
  createNotFoundHint: string;
  /** The diagnostics of a create (`action` completes "Could not …") whose name another object has. */
  createNameTaken(action: string, planned: ObjectValue): Explain;
  /** The diagnostics of an update whose new name another object has; `label` names the object. */
  renameNameTaken(label: string): Explain;
  /** Diagnostics for error codes particular to deleting this kind of object. */
  deleteByCode?(label: string): Record<string, Explain>;
  /** Static checks that need no service, each naming its attribute. */
  validate(config: ObjectValue): Diagnostic[];
  toState(body: T): ObjectValue;
  /** The PATCH body for the updatable attributes whose value changes; default: each as planned. */
  patch?(changed: string[], planned: ObjectValue): Record<string, unknown>;
  get(client: KeyplaneClient, org: string, id: string, signal: AbortSignal): Promise<Versioned<T> | null>;
  create(client: KeyplaneClient, org: string, planned: ObjectValue, signal: AbortSignal): Promise<Versioned<T>>;
  update(
    client: KeyplaneClient,
    org: string,
    id: string,
    patch: Record<string, unknown>,
    ifMatch: string | undefined,
    signal: AbortSignal,
  ): Promise<Versioned<T>>;
  /** Succeeds when the object is already gone. */
  delete(client: KeyplaneClient, org: string, id: string, signal: AbortSignal): Promise<void>;
}

export function guardedResource<T>(kind: GuardedObject<T>): ManagedResource<KeyplaneProviderData> {
  const errors = (action: string, extra: Partial<ErrorContext> = {}): ErrorContext => ({
    action,
    attributes: kind.attributes,
    renames: kind.renames,
    forbiddenHint: kind.forbiddenHint,
    ...extra,
  });
  const label = (state: ObjectValue | null) =>
    `${kind.noun} "${String(state?.name ?? state?.id ?? "")}"${typeof state?.id === "string" ? ` (${state.id})` : ""}`;
  const changed = (prior: ObjectValue, planned: ObjectValue) =>
    kind.updatable.filter((name) => !ctyEqual(prior[name] ?? null, planned[name] ?? null, kind.attributes[name].type!));
  const stored = (found: Versioned<T>) => ({ newState: kind.toState(found.body), private: writePrivate({ etag: found.etag }) });
  const failure = (newState: ObjectValue | null, err: unknown, ctx: ErrorContext) => ({ newState, diagnostics: apiErrorDiagnostics(err, ctx) });

  return {
    schema: { block: { description: kind.description, descriptionKind: "markdown", attributes: kind.attributes } },

    validate: ({ config }) => kind.validate(config),

    plan({ priorState, proposedNewState, config, provider }) {
      if (proposedNewState === null || config === null) return { plannedState: null };
      const org = plannedOrganization(config, provider, priorState);
      if (org === null) return { plannedState: null, diagnostics: [missingOrganization(kind.importId.resource)] };

      const planned: ObjectValue = {
        ...proposedNewState,
        id: priorState?.id ?? Unknown,
        organization_id: org,
        created_at: priorState?.created_at ?? Unknown,
        updated_at: priorState?.updated_at ?? Unknown,
      };
      if (priorState !== null && changed(priorState, planned).length > 0) planned.updated_at = Unknown;
      return { plannedState: planned };
    },

    async apply({ priorState, plannedState, plannedPrivate, provider: { client }, signal }) {
      if (plannedState === null) {
        const state = priorState!;
        try {
          // No If-Match: destroying should not fail over an unrelated edit.
          await kind.delete(client, String(state.organization_id), String(state.id), signal);
        } catch (err) {
          return failure(state, err, errors(`delete ${label(state)}`, kind.deleteByCode ? { byCode: kind.deleteByCode(label(state)) } : {}));
        }
        return { newState: null };
      }

      const org = String(plannedState.organization_id);
      if (priorState === null) {
        try {
          return stored(await kind.create(client, org, plannedState, signal));
        } catch (err) {
          const action = `create ${kind.noun} "${String(plannedState.name)}" in organization ${org}`;
          return failure(
            null,
            err,
            errors(action, { notFoundHint: kind.createNotFoundHint, byCode: { name_conflict: kind.createNameTaken(action, plannedState) } }),
          );
        }
      }

      const names = changed(priorState, plannedState);
      if (names.length === 0) return { newState: { ...priorState } };
      const patch = kind.patch ? kind.patch(names, plannedState) : Object.fromEntries(names.map((name) => [name, plannedState[name] ?? null]));
      try {
        return stored(await kind.update(client, org, String(priorState.id), patch, readPrivate(plannedPrivate).etag, signal));
      } catch (err) {
        return failure(
          priorState,
          err,
          errors(`update ${label(priorState)}`, {
            notFoundHint: "It was deleted outside OpenTofu/Terraform; run plan again to create it anew.",
            byCode: { name_conflict: kind.renameNameTaken(label(priorState)) },
          }),
        );
      }
    },

    async read({ currentState, provider: { client }, signal }) {
      let found;
      try {
        found = await kind.get(client, String(currentState.organization_id), String(currentState.id), signal);
      } catch (err) {
        return failure(currentState, err, errors(`read ${label(currentState)}`));
      }
      // Deleted outside OpenTofu/Terraform: dropping it from state lets the next plan create it again.
      if (found === null) return { newState: null };
      return stored(found);
    },

    async import({ id: rawId, provider, signal }) {
      const parsed = parseImportId(rawId, kind.importId, provider.organizationId);
      if ("diagnostics" in parsed) return { state: null, diagnostics: parsed.diagnostics };
      const { organizationId: org, id } = parsed;
      let found;
      try {
        found = await kind.get(provider.client, org, id, signal);
      } catch (err) {
        return { state: null, diagnostics: apiErrorDiagnostics(err, errors(`import ${kind.noun} ${id} of organization ${org}`)) };
      }
      if (found === null) {
        return {
          state: null,
          diagnostics: [
            diag.error(
              `Cannot import non-existent ${kind.noun}`,
              `Organization ${org} has no ${kind.noun} ${id} that this token can see. Check both IDs and that the provider's token belongs to that organization.`,
            ),
          ],
        };
      }
      return { state: kind.toState(found.body), private: writePrivate({ etag: found.etag }) };
    },
  };
}
