// Owns the checks every input passes before its schema: strings no database column can store,
// keys that could reach an object's prototype, and nesting deeper than any schema allows.

import type { FieldError } from "../errors.js";
import { safeSegment } from "./error-messages.js";

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const MAX_DEPTH = 32;
// In a `u` regex a surrogate pair is one code point, so \p{Cs} matches only unpaired halves.
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/**
 * Why a string cannot be stored, or null. PostgreSQL text and jsonb refuse NUL; an unpaired
 * surrogate is not Unicode at all (jsonb refuses its escape; text would silently get U+FFFD).
 */
export function unstorable(text: string): string | null {
  if (!UNSTORABLE.test(text)) return null;
  return text.includes("\u0000") ? "must not contain NUL characters (\\u0000)" : "must not contain unpaired UTF-16 surrogates";
}

/**
 * Adds to `errors` every string (value or key) in `input` that no column can store, every
 * `__proto__`, `constructor` and `prototype` key (JSON.parse makes `__proto__` an ordinary own
 * key, which a later merge could turn into a prototype write), and nesting deeper than any schema
 * allows. Iterative, so hostile nesting cannot overflow the stack.
 */
export function checkStorable(input: unknown, root: string, errors: FieldError[]): void {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: input, path: root, depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === "string") {
      const problem = unstorable(value);
      if (problem) errors.push({ path, message: problem });
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    if (depth > MAX_DEPTH) {
      errors.push({ path, message: `nesting deeper than ${MAX_DEPTH} levels` });
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push({ value: item, path: `${path}.${i}`, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) {
        errors.push({ path: `${path}.${key}`, message: "forbidden key" });
        continue;
      }
      const keyProblem = unstorable(key);
      if (keyProblem) {
        errors.push({ path: `${path}.*`, message: `names ${keyProblem}` });
        continue;
      }
      stack.push({ value: (value as Record<string, unknown>)[key], path: `${path}.${safeSegment(key)}`, depth: depth + 1 });
    }
  }
}
