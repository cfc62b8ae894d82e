import { inTransaction, withUniqueConflicts, type Db, type Queryable } from "../db/index.js";
import { newId } from "../ids.js";
import { ConflictError, orNotFound } from "../errors.js";
import { changeAudit } from "../audit/audit-service.js";
import type { CallMeta } from "../auth/actor.js";
import { checkPrecondition, type TagCondition } from "../versioning.js";
import type { Schemas } from "../contract-types.js";
import * as dal from "./project-dal.js";

export type Project = Schemas["Project"];

const PROJECT_CONFLICTS = {
  projects_organization_name_key: {
    code: "name_conflict",
    detail: "A project with this name already exists in the organization.",
    field: { path: "body.name", message: "project names are unique per organization" },
  },
};

const mustFind = orNotFound("project", dal.findProject);
const audit = changeAudit("project");

export class ProjectService {
  constructor(private readonly db: Db) {}

  /** One more than `limit` projects after `afterName`, by name. */
  async list(organizationId: string, afterName: string | undefined, limit: number): Promise<Project[]> {
    return (await dal.listProjects(this.db, organizationId, afterName, limit)).map(projectToApi);
  }

  async get(organizationId: string, id: string): Promise<Project> {
    return projectToApi(await mustFind(this.db, organizationId, id));
  }

  async create(organizationId: string, body: Schemas["ProjectCreate"], meta: CallMeta, within?: Queryable): Promise<Project> {
    const id = newId("prj");
    return inTransaction(this.db, within, async (tx) => {
      await withUniqueConflicts(PROJECT_CONFLICTS, () =>
        dal.insertProject(tx, {
          id,
          organization_id: organizationId,
          name: body.name,
          description: body.description ?? null,
          inherit_organization_credentials: body.inherit_organization_credentials ?? false,
        }),
      );
      const created = await mustFind(tx, organizationId, id);
      await audit(tx, meta, organizationId, "project.create", id, {
        name: created.name,
        inherit_organization_credentials: created.inherit_organization_credentials,
      });
      return projectToApi(created);
    });
  }

  async update(
    organizationId: string,
    id: string,
    body: Schemas["ProjectUpdate"],
    ifMatch: TagCondition | undefined,
    meta: CallMeta,
    within?: Queryable,
  ): Promise<Project> {
    return inTransaction(this.db, within, async (tx) => {
      const current = await mustFind(tx, organizationId, id, true);
      checkPrecondition(ifMatch, current.version);
      const patch: dal.ProjectPatch = {};
      if (body.name !== undefined) patch.name = body.name;
      if (body.description !== undefined) patch.description = body.description;
      if (body.inherit_organization_credentials !== undefined) {
        patch.inherit_organization_credentials = body.inherit_organization_credentials;
      }
      const changed = Object.keys(patch).sort();
      if (changed.length === 0) return projectToApi(current);
      await withUniqueConflicts(PROJECT_CONFLICTS, () => dal.updateProject(tx, organizationId, id, patch));
      const updated = await mustFind(tx, organizationId, id);
      await audit(tx, meta, organizationId, "project.update", id, {
        changed_fields: changed,
        inherit_organization_credentials: updated.inherit_organization_credentials,
      });
      return projectToApi(updated);
    });
  }

  /** @throws ConflictError (`project_not_empty`) while the project still holds credentials. */
  async delete(organizationId: string, id: string, ifMatch: TagCondition | undefined, meta: CallMeta): Promise<void> {
    await this.db.transaction(async (tx) => {
      // The row lock makes a concurrent credential insert into this project wait for us (its
      // foreign-key check needs a share lock on the row) and then fail, so the count stays true.
      const current = await mustFind(tx, organizationId, id, true);
      checkPrecondition(ifMatch, current.version);
      const count = await dal.countProjectCredentials(tx, organizationId, id);
      if (count > 0) {
        throw new ConflictError(
          "project_not_empty",
          `The project still holds ${count === 1 ? "1 credential" : `${count} credentials`}; delete ${count === 1 ? "it" : "them"} first.`,
        );
      }
      await dal.deleteProject(tx, organizationId, id);
      await audit(tx, meta, organizationId, "project.delete", id, { name: current.name });
    });
  }
}

function projectToApi(row: dal.ProjectRow): Project {
  return {
    id: row.id,
    organization_id: row.organization_id,
    name: row.name,
    description: row.description,
    inherit_organization_credentials: row.inherit_organization_credentials,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
    version: row.version,
  };
}
