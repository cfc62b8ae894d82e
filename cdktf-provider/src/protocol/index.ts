// What provider and resource code imports from the protocol layer. DiagnosticsError is left out on
// purpose: resources report failures as diagnostics in their results (see WithDiagnostics).
export * from "./provider-api.js";
export { diag, key, hasErrors, type PathStep, type Severity } from "./diagnostics.js";
export { t, Unknown, UnknownValue, isUnknown, isWhollyKnown, Dynamic, ctyEqual, type UnknownRefinements } from "./cty.js";
export { impliedType, attributeType, markComputedUnknown, nullWriteOnly } from "./schema.js";
