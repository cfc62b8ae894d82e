import { inspect } from "node:util";

const REDACTED = "[REDACTED]";

/**
 * Holds a secret value so that logging, JSON serialization, string interpolation or
 * `util.inspect` of the holder (for example a whole Config object) never prints it.
 * The value is only reachable through an explicit `reveal()`.
 */
export class Redacted<T = string> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  reveal(): T {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

export function reveal<T>(value: T | Redacted<T>): T {
  return value instanceof Redacted ? value.reveal() : value;
}
