// Types of scripts/gen-cdktf.mjs for the tests that import it.
export const ROOT: string;
export const OUT_DIR: string;
export const PROVIDER_SOURCE: string;
export const SCHEMA_KEY: string;
export interface ProvidersSchemaJson {
  format_version: string;
  provider_schemas: Record<string, ProviderSchemaJson>;
}
export interface ProviderSchemaJson {
  provider: unknown;
  resource_schemas?: Record<string, unknown>;
  data_source_schemas?: Record<string, unknown>;
  ephemeral_resource_schemas?: Record<string, unknown>;
}
export function buildPlugin(): void;
export function fetchProviderSchema(options?: { timeoutMs?: number }): Promise<Record<string, unknown>>;
export function toProviderSchemaJson(response: Record<string, unknown>): ProviderSchemaJson;
export function toProvidersSchemaJson(response: Record<string, unknown>): ProvidersSchemaJson;
export function generateBindings(schema: ProvidersSchemaJson): Promise<Map<string, string>>;
export function readCheckedIn(): Map<string, string>;
export function diffFiles(expected: Map<string, string>, actual: Map<string, string>): string[];
export function writeBindings(files: Map<string, string>): void;
export const PROVIDER_VERSION_CONSTRAINT: string;
