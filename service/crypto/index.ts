export * from "./envelope.js";
export * from "./master-key.js";
export * from "./redacted.js";
export * from "./keyring-check.js";
