// keyplane_project: a project in an organization, optionally inheriting the organization's
// credentials. Planned, written (If-Match guarded), read and imported by guarded-resource.ts.
import type { Project } from "../client/keyplane-client.js";
import { diag, t, type AttributeSchema, type Diagnostic, type ObjectValue } from "../protocol/index.js";
import { guardedResource } from "./guarded-resource.js";

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

export const projectResource = guardedResource<Project>({
  noun: "project",
  description: "A Keyplane project. Projects hold their own credentials and can opt in to inheriting the organization's. " + "Import with `ORG_ID/PROJECT_ID`.",
  attributes,
  updatable: ["name", "description", "inherit_organization_credentials"],
  importId: { resource: "keyplane_project", idName: "PROJECT_ID", example: "org_01J…/prj_01J…", bareIdAllowed: true },
  renames: { org: "organization_id", project: "id" },
  forbiddenHint: "Managing projects needs an admin (or platform-admin) token of the organization.",
  createNotFoundHint: "Check organization_id (or the provider's organization_id) and that the token belongs to that organization.",
  createNameTaken: (_action, planned) => (e) => [
    diag.error(
      "Project name already taken",
      `Could not create project "${String(planned.name)}": ${e.message} Choose another name, or import the existing project with ORG_ID/PROJECT_ID.`,
      ["name"],
    ),
  ],
  renameNameTaken: (label) => (e) => [diag.error("Project name already taken", `Could not rename ${label}: ${e.message}`, ["name"])],
  // The service itself refuses to delete a project that still holds credentials.
  deleteByCode: (label) => ({
    project_not_empty: (e) => [
      diag.error(
        "Project still holds credentials",
        `Could not delete ${label}: ${e.message} keyplane_credential resources of this configuration whose ` +
          "project_id refers to the project are destroyed before it, so these are managed elsewhere: delete them " +
          "through the Keyplane API or CLI (or the configuration that manages them), then run destroy again.",
      ),
    ],
  }),

  validate(config) {
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

  toState,
  get: (client, org, id, signal) => client.getProject(org, id, signal),
  create: (client, org, planned, signal) =>
    client.createProject(
      org,
      {
        name: String(planned.name),
        ...(typeof planned.description === "string" ? { description: planned.description } : {}),
        inherit_organization_credentials: planned.inherit_organization_credentials === true,
      },
      signal,
    ),
  update: (client, org, id, patch, ifMatch, signal) => client.updateProject(org, id, patch, ifMatch, signal),
  delete: (client, org, id, signal) => client.deleteProject(org, id, { signal }),
});
