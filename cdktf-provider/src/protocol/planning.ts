// The semantics the server adds around a managed resource's own operations, on decoded values
// (no protobuf or gRPC: rpc.ts translates): declared defaults and requires-replace in plans, the
// default plan of resources without one, write-only attributes nulled in every plan and state that
// leaves, and the upgrade of state stored by older schema versions.
import { ctyEqual, type CtyType, type ObjectValue } from "./cty.js";
import { decodeJsonValue } from "./codec.js";
import { diag, hasErrors, type AttributePath, type Diagnostic } from "./diagnostics.js";
import type {
  ApplyResourceRequest,
  ApplyResourceResult,
  BlockSchema,
  ImportResourceRequest,
  ImportResourceResult,
  ManagedResource,
  PlanResourceRequest,
  PlanResourceResult,
  ReadResourceRequest,
  ReadResourceResult,
  UpgradeResourceResult,
  ValidateRequest,
} from "./provider-api.js";
import { applyDefaults, attributeType, markComputedUnknown, nullWriteOnly, schemaType, writeOnlyPathsSet } from "./schema.js";

/** The resource's own checks, after refusing write-only values an older engine would store. */
export async function validateResourceConfig<P>(res: ManagedResource<P>, req: ValidateRequest): Promise<Diagnostic[]> {
  const writeOnlyNotAllowed = req.clientCapabilities.writeOnlyAttributesAllowed
    ? []
    : writeOnlyPathsSet(res.schema.block, req.config).map((path) =>
        diag.error(
          "Write-only attribute not supported",
          "This attribute is write-only, which needs OpenTofu or Terraform 1.11 or later. Upgrade, or remove the attribute.",
          path,
        ),
      );
  return [...writeOnlyNotAllowed, ...((await res.validate?.(req)) ?? [])];
}

/** The state as stored: `json` (empty when there is none) or Terraform 0.11's flatmap. */
export interface StoredState {
  typeName: string;
  version: number;
  json: Buffer | undefined;
  flatmap: Record<string, string> | undefined;
}

export async function upgradeResourceState<P>(res: ManagedResource<P>, stored: StoredState): Promise<UpgradeResourceResult> {
  const current = res.schema.version ?? 0;
  if (!stored.json || stored.json.length === 0) {
    if (Object.keys(stored.flatmap ?? {}).length > 0) {
      return {
        state: null,
        diagnostics: [diag.error("Unsupported state format", "This state uses the flatmap format of Terraform 0.11, which the keyplane provider never wrote.")],
      };
    }
    return { state: null, diagnostics: [] };
  }
  if (stored.version > current) {
    return {
      state: null,
      diagnostics: [
        diag.error(
          "State written by a newer provider",
          `This ${stored.typeName} was stored by a keyplane provider with schema version ${stored.version}; this one knows version ${current}. Upgrade the provider.`,
        ),
      ],
    };
  }
  const rawState: unknown = JSON.parse(stored.json.toString("utf8"));
  if (stored.version < current && res.upgrade) {
    const result = await res.upgrade({ typeName: stored.typeName, version: stored.version, rawState });
    if (hasErrors(result.diagnostics)) return result;
    return { state: nullWriteOnly(res.schema.block, result.state), diagnostics: result.diagnostics ?? [] };
  }
  const state = decodeJsonValue(rawState, schemaType(res.schema), { ignoreUndefinedAttributes: true }) as ObjectValue | null;
  return { state: nullWriteOnly(res.schema.block, state), diagnostics: [] };
}

/** Reads the remote object; an absent current state stays absent without asking the resource. */
export async function readResource<P>(
  res: ManagedResource<P>,
  req: Omit<ReadResourceRequest<P>, "currentState"> & { currentState: ObjectValue | null },
): Promise<ReadResourceResult> {
  const { currentState } = req;
  if (currentState === null) return { newState: null };
  const result = await res.read({ ...req, currentState });
  return { ...result, newState: nullWriteOnly(res.schema.block, result.newState) };
}

/** The plan: defaults applied, then the resource's plan (or the default one), requires-replace completed. */
export async function planResourceChange<P>(res: ManagedResource<P>, req: PlanResourceRequest<P>): Promise<PlanResourceResult> {
  const block = res.schema.block;
  const { priorState, config } = req;
  const proposedNewState =
    req.proposedNewState !== null && config !== null ? applyDefaults(block, req.proposedNewState, { config, priorState }) : req.proposedNewState;
  const result = res.plan ? await res.plan({ ...req, proposedNewState }) : defaultPlan(block, schemaType(res.schema), priorState, proposedNewState, config);
  if (hasErrors(result.diagnostics)) return result;
  const planned = result.plannedState;
  const requiresReplace: AttributePath[] = [...(result.requiresReplace ?? [])];
  if (priorState !== null && planned !== null) {
    for (const [name, attr] of Object.entries(block.attributes)) {
      if (!attr.requiresReplace || requiresReplace.some((p) => p.length === 1 && p[0] === name)) continue;
      if (!ctyEqual(priorState[name] ?? null, planned[name] ?? null, attributeType(attr))) requiresReplace.push([name]);
    }
  }
  return { ...result, plannedState: nullWriteOnly(block, planned), requiresReplace };
}

function defaultPlan(
  block: BlockSchema,
  type: CtyType,
  priorState: ObjectValue | null,
  proposedNewState: ObjectValue | null,
  config: ObjectValue | null,
): PlanResourceResult {
  if (proposedNewState === null) return { plannedState: null };
  if (priorState !== null && ctyEqual(nullWriteOnly(block, proposedNewState), priorState, type)) return { plannedState: priorState };
  return { plannedState: markComputedUnknown(block, proposedNewState, config ?? {}, priorState !== null) };
}

/** Applies the planned change. What the resource throws is the caller's to report (with the prior state). */
export async function applyResourceChange<P>(res: ManagedResource<P>, req: ApplyResourceRequest<P>): Promise<ApplyResourceResult> {
  const result = await res.apply(req);
  return { ...result, newState: nullWriteOnly(res.schema.block, result.newState) };
}

type Importable<P> = ManagedResource<P> & Required<Pick<ManagedResource<P>, "import">>;

export function importable<P>(res: ManagedResource<P>): res is Importable<P> {
  return res.import !== undefined;
}

export async function importResourceState<P>(res: Importable<P>, req: ImportResourceRequest<P>): Promise<ImportResourceResult> {
  const result = await res.import(req);
  return { ...result, state: nullWriteOnly(res.schema.block, result.state) };
}
