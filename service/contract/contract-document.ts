// Owns loading the contract: finds openapi.yaml, reads and parses it once for the whole process,
// and follows its local `$ref`s. Everything else that needs the document asks this module.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";

export type JsonSchema = { [key: string]: unknown };

export interface OpenApiDocument {
  openapi: string;
  info: Record<string, unknown>;
  security?: Record<string, string[]>[];
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

/**
 * openapi.yaml sits at the repository root. Walking up from this module finds it both from the
 * sources (service/contract) and from the build output (dist/service/contract).
 */
function locateContract(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "openapi.yaml");
    if (existsSync(candidate) && existsSync(join(dir, "package.json"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("openapi.yaml not found in any parent directory of service/contract");
    dir = parent;
  }
}

/** Absolute path of the openapi.yaml this process validates against. */
export const openapiPath = locateContract();
/** The contract's text exactly as the file holds it. */
export const openapiText = readFileSync(openapiPath, "utf8");
/** The parsed contract (treat as read-only). */
export const openapiDocument = parseContract(openapiText);

/**
 * Parsing the YAML was a third of the service's start-up, so the build leaves it parsed in
 * dist/openapi.json (scripts/copy-assets.mjs); that copy is used only when it was made from this
 * very text.
 */
function parseContract(text: string): OpenApiDocument {
  const built = join(dirname(openapiPath), "dist", "openapi.json");
  if (existsSync(built)) {
    const { sha256, document } = JSON.parse(readFileSync(built, "utf8")) as { sha256: string; document: OpenApiDocument };
    if (sha256 === createHash("sha256").update(text).digest("hex")) return document;
  }
  return parseYaml(text) as OpenApiDocument;
}

/** Follows a local `$ref` (`#/components/...`) to its target; other values are returned as is. */
export function deref<T>(value: unknown): T {
  let current = value;
  for (let hops = 0; isObject(current) && typeof current.$ref === "string"; hops++) {
    if (hops > 16) throw new Error(`$ref chain too long at ${current.$ref}`);
    current = resolvePointer(current.$ref);
  }
  return current as T;
}

function resolvePointer(ref: string): unknown {
  if (!ref.startsWith("#/")) throw new Error(`only local $refs are supported: ${ref}`);
  let node: unknown = openapiDocument;
  for (const raw of ref.slice(2).split("/")) {
    const segment = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isObject(node) || !Object.hasOwn(node, segment)) throw new Error(`unresolved $ref ${ref}`);
    node = node[segment];
  }
  return node;
}

/** A JSON object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
