// Refresh and import of the resources whose whole state comes from one GET (keyplane_project,
// keyplane_model_alias): the ETag goes to private state, and a 404 on refresh drops the object so
// the next plan creates it again.
import type { Versioned } from "../client/keyplane-client.js";
import { diag, type Diagnostic, type ObjectValue } from "../protocol/index.js";
import type { KeyplaneProviderData } from "../provider-data.js";
import { apiErrorDiagnostics, type ErrorContext } from "./api-diagnostics.js";
import { parseImportId, type ImportIdForm } from "./import-id.js";
import { writePrivate } from "./private-state.js";

export interface FetchedObject<T> {
  /** e.g. "model alias", completing "Cannot import non-existent …". */
  noun: string;
  importId: ImportIdForm;
  get(provider: KeyplaneProviderData, org: string, id: string, signal: AbortSignal): Promise<Versioned<T> | null>;
  toState(body: T): ObjectValue;
  errors(action: string): ErrorContext;
}

export async function readFetched<T>(kind: FetchedObject<T>, currentState: ObjectValue, label: string, provider: KeyplaneProviderData, signal: AbortSignal) {
  let found;
  try {
    found = await kind.get(provider, String(currentState.organization_id), String(currentState.id), signal);
  } catch (err) {
    return { newState: currentState, diagnostics: apiErrorDiagnostics(err, kind.errors(`read ${label}`)) };
  }
  // Deleted outside OpenTofu/Terraform: dropping it from state lets the next plan create it again.
  if (found === null) return { newState: null };
  return { newState: kind.toState(found.body), private: writePrivate({ etag: found.etag }) };
}

export async function importFetched<T>(
  kind: FetchedObject<T>,
  rawId: string,
  provider: KeyplaneProviderData,
  signal: AbortSignal,
): Promise<{ state: ObjectValue | null; private?: Buffer; diagnostics?: Diagnostic[] }> {
  const parsed = parseImportId(rawId, kind.importId, provider.organizationId);
  if ("diagnostics" in parsed) return { state: null, diagnostics: parsed.diagnostics };
  const { organizationId: org, id } = parsed;
  let found;
  try {
    found = await kind.get(provider, org, id, signal);
  } catch (err) {
    return { state: null, diagnostics: apiErrorDiagnostics(err, kind.errors(`import ${kind.noun} ${id} of organization ${org}`)) };
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
}
