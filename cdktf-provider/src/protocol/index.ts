// What provider and resource code imports from the protocol layer.
export * from "./provider-api.js";
export { diag, key, hasErrors, DiagnosticsError, type PathStep, type Severity } from "./diagnostics.js";
export { t, Unknown, UnknownValue, isUnknown, isWhollyKnown, Dynamic, ctyEqual, type UnknownRefinements } from "./cty.js";
export { impliedType, attributeType, markComputedUnknown, nullWriteOnly } from "./schema.js";
