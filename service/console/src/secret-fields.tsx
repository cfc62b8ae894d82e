// The password fields of a credential's secret, for the add form and the rotate dialog. They are
// uncontrolled on purpose: a controlled input's value would live in component state and be
// mirrored into the page's HTML as an attribute; these are read once on submit, then emptied.
import { fieldError, type Problem, type Provider } from "./api";
import { Field, text } from "./ui";

const humanize = (name: string) => (name.charAt(0).toUpperCase() + name.slice(1)).replaceAll("_", " ");

export interface SecretShape {
  /** `api_token` credentials take `api_key`; every other type takes named `fields`. */
  single: boolean;
  fields: { name: string; required: boolean }[];
}

export function secretShape(provider: Provider): SecretShape {
  const single = provider.credential_type === "api_token";
  return { single, fields: single ? [{ name: "api_key", required: true }] : provider.secret_fields };
}

export function SecretInputs({ provider, shape, problem }: { provider: Provider | undefined; shape: SecretShape; problem: Problem | null }) {
  return (
    <>
      {shape.fields.map((field) => {
        const path = shape.single ? "body.api_key" : `body.fields.${field.name}`;
        const label = shape.single ? "API key" : `${humanize(field.name)}${field.required ? "" : " (optional)"}`;
        let hint: string | undefined;
        if (shape.single) hint = provider?.key_prefix ? `Expected prefix: ${provider.key_prefix}` : "Any format.";
        if (field.name === "service_account_json") hint = "The service account's JSON key, with client_email and private_key.";
        return (
          <Field key={field.name} label={label} hint={hint} error={fieldError(problem, path)}>
            {(input) => <input {...input} type="password" name={`secret.${field.name}`} autoComplete="off" spellCheck={false} required={field.required} />}
          </Field>
        );
      })}
    </>
  );
}

/** What the user typed, as the request's `api_key` or `fields` (empty optional fields left out). */
export function readSecret(form: FormData, shape: SecretShape): { api_key: string } | { fields: Record<string, string> } {
  if (shape.single) return { api_key: text(form, "secret.api_key") };
  const fields: Record<string, string> = {};
  for (const field of shape.fields) {
    const value = text(form, `secret.${field.name}`);
    if (value) fields[field.name] = value;
  }
  return { fields };
}
