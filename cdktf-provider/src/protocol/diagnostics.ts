// Diagnostics: what the engine shows the user ("Error: <summary>\n\n<detail>", pointing at the
// attribute in the configuration when a path is given).

/**
 * One step of an attribute path: a string names an attribute, a number indexes a list or tuple,
 * `{ key }` selects a map element (see `key()`).
 */
export type PathStep = string | number | { readonly key: string };
export type AttributePath = readonly PathStep[];

export type Severity = "error" | "warning";

export interface Diagnostic {
  severity: Severity;
  summary: string;
  detail?: string;
  path?: AttributePath;
}

/** A map element step: `["settings", key("region")]`. */
export function key(name: string): { readonly key: string } {
  return { key: name };
}

export const diag = {
  error(summary: string, detail?: string, path?: AttributePath): Diagnostic {
    return { severity: "error", summary, detail, path };
  },
  warning(summary: string, detail?: string, path?: AttributePath): Diagnostic {
    return { severity: "warning", summary, detail, path };
  },
};

export function hasErrors(diagnostics: readonly Diagnostic[] | undefined): boolean {
  return diagnostics?.some((d) => d.severity === "error") ?? false;
}

/**
 * Ends an operation with these diagnostics: the server reports them as they are, where any other
 * throw is reported as a bug. Keyplane's resources return their diagnostics instead (see
 * WithDiagnostics); the server uses this for requests it refuses before any resource code runs.
 */
export class DiagnosticsError extends Error {
  override name = "DiagnosticsError";
  readonly diagnostics: Diagnostic[];

  constructor(diagnostics: Diagnostic | Diagnostic[]) {
    const list = Array.isArray(diagnostics) ? diagnostics : [diagnostics];
    super(list.map((d) => d.summary).join("; "));
    this.diagnostics = list;
  }
}

// Wire form (tfplugin6.Diagnostic / AttributePath as the plain objects the gRPC server encodes).

export interface ProtoAttributePath {
  steps: Array<{ attribute_name: string } | { element_key_string: string } | { element_key_int: number }>;
}

export interface ProtoDiagnostic {
  severity: "ERROR" | "WARNING";
  summary: string;
  detail: string;
  attribute?: ProtoAttributePath;
}

export function toProtoPath(path: AttributePath): ProtoAttributePath {
  return {
    steps: path.map((step) =>
      typeof step === "string" ? { attribute_name: step } : typeof step === "number" ? { element_key_int: step } : { element_key_string: step.key },
    ),
  };
}

export function toProtoDiagnostic(d: Diagnostic): ProtoDiagnostic {
  return {
    severity: d.severity === "error" ? "ERROR" : "WARNING",
    summary: d.summary,
    detail: d.detail ?? "",
    ...(d.path && d.path.length > 0 ? { attribute: toProtoPath(d.path) } : {}),
  };
}
