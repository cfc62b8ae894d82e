// keyplane_project: a project in an organization, optionally inheriting the organization's
// credentials. The service's ETag travels in private state so updates are If-Match guarded: a
// change made by someone else between plan and apply fails with 412 instead of being overwritten.
import type { Project, ProjectUpdate } from "../client/keyplane-client.js";
import { ctyEqual, diag, t, Unknown, type AttributeSchema, type Diagnostic, type ManagedResource, type ObjectValue } from "../protocol/index.js";
import type { KeyplaneProviderData } from "../provider-data.js";
import { apiErrorDiagnostics, missingOrganization, plannedOrganization, type ErrorContext } from "./api-diagnostics.js";
import { importFetched, readFetched, type FetchedObject } from "./fetched-object.js";
import { readPrivate, writePrivate } from "./private-state.js";

const attributes: Record<string, AttributeSchema> = {
  id: { type: t.string, computed: true, useStateForUnknown: true, description: "Project ID (`prj_…`)." },
  organization_id: {
    type: t.string,
    optional: true,
    computed: true,
    requiresReplace: true,
    description: "Organization that owns the project. Defaults to the provider's `organization_id`. Changing it replaces the project.",
    descriptionKind: "markdown",
  },
  name: { type: t.string, required: true, description: "Name, 1–128 characters, unique within the organization." },
  description: { type: t.string, optional: true, description: "What the project is for (up to 1024 characters)." },
  inherit_organization_credentials: {
    type: t.bool,
    optional: true,
    computed: true,
    description:
      "When true, resolution for this project falls through to the organization's credentials when the project has none of its own. Default `false`.",
    descriptionKind: "markdown",
    // A default, not "keep whatever is there": removing the argument turns inheritance off.
    default: false,
  },
  created_at: { type: t.string, computed: true, useStateForUnknown: true, description: "Creation time (RFC 3339)." },
  updated_at: { type: t.string, computed: true, description: "Time of the last change (RFC 3339)." },
};

const ORG_ID = /^org_[0-9A-HJKMNP-TV-Z]{26}$/;
const CONTROL = /[\x00-\x1F\x7F]/;

/** In-place changes: anything else either never changes or forces a replacement. */
const UPDATABLE = ["name", "description", "inherit_organization_credentials"] as const;

function toState(project: Project): ObjectValue {
  return {
    id: project.id,
    organization_id: project.organization_id,
    name: project.name,
    description: project.description,
    inherit_organization_credentials: project.inherit_organization_credentials,
    created_at: project.created_at,
    updated_at: project.updated_at,
  };
}

function errors(action: string, extra: Partial<ErrorContext> = {}): ErrorContext {
  return {
    action,
    attributes,
    renames: { org: "organization_id", project: "id" },
    forbiddenHint: "Managing projects needs an admin (or platform-admin) token of the organization.",
    ...extra,
  };
}

function label(state: ObjectValue | null): string {
  return `project "${String(state?.name ?? state?.id ?? "")}"${typeof state?.id === "string" ? ` (${state.id})` : ""}`;
}

/** A failed call's result: the state to keep and the call's error as diagnostics. */
function failure(newState: ObjectValue | null, err: unknown, ctx: ErrorContext) {
  return { newState, diagnostics: apiErrorDiagnostics(err, ctx) };
}

const IMPORT_ID = { resource: "keyplane_project", idName: "PROJECT_ID", example: "org_01J…/prj_01J…", bareIdAllowed: true };

const FETCHED: FetchedObject<Project> = {
  noun: "project",
  importId: IMPORT_ID,
  get: ({ client }, org, id, signal) => client.getProject(org, id, signal),
  toState,
  errors: (action) => errors(action),
};

export const projectResource: ManagedResource<KeyplaneProviderData> = {
  schema: {
    block: {
      description:
        "A Keyplane project. Projects hold their own credentials and can opt in to inheriting the organization's. " + "Import with `ORG_ID/PROJECT_ID`.",
      descriptionKind: "markdown",
      attributes,
    },
  },

  validate({ config }) {
    const out: Diagnostic[] = [];
    const name = config.name;
    if (typeof name === "string" && (name.length === 0 || name.length > 128 || CONTROL.test(name))) {
      out.push(diag.error("Invalid name", "name must be 1–128 characters without control characters.", ["name"]));
    }
    if (typeof config.description === "string" && config.description.length > 1024) {
      out.push(diag.error("Invalid description", "description must be at most 1024 characters.", ["description"]));
    }
    const org = config.organization_id;
    if (typeof org === "string" && !ORG_ID.test(org)) {
      out.push(diag.error("Invalid organization_id", `organization_id must be an organization ID such as org_01J…, got "${org}".`, ["organization_id"]));
    }
    return out;
  },

  plan({ priorState, proposedNewState, config, provider }) {
    if (proposedNewState === null || config === null) return { plannedState: null };
    const org = plannedOrganization(config, provider, priorState);
    if (org === null) return { plannedState: null, diagnostics: [missingOrganization("keyplane_project")] };

    const planned: ObjectValue = {
      id: priorState?.id ?? Unknown,
      organization_id: org,
      name: config.name,
      description: config.description,
      inherit_organization_credentials: proposedNewState.inherit_organization_credentials,
      created_at: priorState?.created_at ?? Unknown,
      updated_at: priorState?.updated_at ?? Unknown,
    };
    if (priorState !== null && UPDATABLE.some((name) => !ctyEqual(priorState[name] ?? null, planned[name], attributes[name].type!))) {
      planned.updated_at = Unknown;
    }
    return { plannedState: planned };
  },

  async apply({ priorState, plannedState, plannedPrivate, provider: { client }, signal }) {
    if (plannedState === null) {
      const state = priorState!;
      try {
        // No If-Match: destroying should not fail over an unrelated edit; the service itself
        // refuses to delete a project that still holds credentials.
        await client.deleteProject(String(state.organization_id), String(state.id), { signal });
      } catch (err) {
        return failure(
          state,
          err,
          errors(`delete ${label(state)}`, {
            byCode: {
              project_not_empty: (e) => [
                diag.error(
                  "Project still holds credentials",
                  `Could not delete ${label(state)}: ${e.message} keyplane_credential resources of this configuration whose ` +
                    "project_id refers to the project are destroyed before it, so these are managed elsewhere: delete them " +
                    "through the Keyplane API or CLI (or the configuration that manages them), then run destroy again.",
                ),
              ],
            },
          }),
        );
      }
      return { newState: null };
    }

    const org = String(plannedState.organization_id);
    if (priorState === null) {
      try {
        const created = await client.createProject(
          org,
          {
            name: String(plannedState.name),
            ...(typeof plannedState.description === "string" ? { description: plannedState.description } : {}),
            inherit_organization_credentials: plannedState.inherit_organization_credentials === true,
          },
          signal,
        );
        return { newState: toState(created.body), private: writePrivate({ etag: created.etag }) };
      } catch (err) {
        return failure(
          null,
          err,
          errors(`create project "${String(plannedState.name)}" in organization ${org}`, {
            notFoundHint: "Check organization_id (or the provider's organization_id) and that the token belongs to that organization.",
            byCode: {
              name_conflict: (e) => [
                diag.error(
                  "Project name already taken",
                  `Could not create project "${String(plannedState.name)}": ${e.message} Choose another name, or import the existing project with ORG_ID/PROJECT_ID.`,
                  ["name"],
                ),
              ],
            },
          }),
        );
      }
    }

    const patch: ProjectUpdate = {};
    if (plannedState.name !== priorState.name) patch.name = String(plannedState.name);
    if (plannedState.description !== priorState.description) patch.description = (plannedState.description as string | null) ?? null;
    if (plannedState.inherit_organization_credentials !== priorState.inherit_organization_credentials) {
      patch.inherit_organization_credentials = plannedState.inherit_organization_credentials === true;
    }
    if (Object.keys(patch).length === 0) return { newState: { ...priorState } };
    try {
      const updated = await client.updateProject(org, String(priorState.id), patch, readPrivate(plannedPrivate).etag, signal);
      return { newState: toState(updated.body), private: writePrivate({ etag: updated.etag }) };
    } catch (err) {
      return failure(
        priorState,
        err,
        errors(`update ${label(priorState)}`, {
          notFoundHint: "It was deleted outside OpenTofu/Terraform; run plan again to create it anew.",
          byCode: {
            name_conflict: (e) => [diag.error("Project name already taken", `Could not rename ${label(priorState)}: ${e.message}`, ["name"])],
          },
        }),
      );
    }
  },

  read: ({ currentState, provider, signal }) => readFetched(FETCHED, currentState, label(currentState), provider, signal),

  import: ({ id, provider, signal }) => importFetched(FETCHED, id, provider, signal),
};
