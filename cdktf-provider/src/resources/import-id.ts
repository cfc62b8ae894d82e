// Import IDs of Keyplane objects: ORG_ID/ID, or for some resources the object's ID alone, which then
// belongs to the provider's organization_id.
import { diag, type Diagnostic } from "../protocol/index.js";

export interface ImportIdForm {
  /** e.g. "keyplane_project". */
  resource: string;
  /** The object's part as the user writes it, e.g. "PROJECT_ID". */
  idName: string;
  /** e.g. "org_01J…/prj_01J…". */
  example: string;
  /** Whether the ID alone is accepted when the provider sets organization_id. */
  bareIdAllowed: boolean;
}

export function parseImportId(
  raw: string,
  form: ImportIdForm,
  providerOrganization: string | undefined,
): { organizationId: string; id: string } | { diagnostics: Diagnostic[] } {
  const parts = raw.trim().split("/");
  if (parts.every((part) => /^\S+$/.test(part))) {
    if (parts.length === 2) return { organizationId: parts[0], id: parts[1] };
    if (parts.length === 1 && form.bareIdAllowed && providerOrganization) return { organizationId: providerOrganization, id: parts[0] };
  }
  const bare = form.bareIdAllowed ? `, or as ${form.idName} when the provider sets organization_id` : "";
  return {
    diagnostics: [diag.error("Invalid import ID", `Import a ${form.resource} as ORG_ID/${form.idName} (e.g. ${form.example})${bare}; got "${raw}".`)],
  };
}
