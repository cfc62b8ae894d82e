// The types openapi-typescript generated from openapi.yaml, for modules outside http/: the
// contract stays the one description of these shapes, and no feature keeps its own copy.
import type { components } from "./generated/openapi.js";

export type Schemas = components["schemas"];
export type Role = Schemas["Role"];
export type CredentialType = Schemas["CredentialType"];
