// cdktf-provider/docs against the provider's own schema: every attribute (and every field of a
// list-of-object result) is documented with its type, sensitivity and write-only flag, in the
// section its flags put it in, and nothing is documented that the schema lacks.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { CtyType } from "../../cdktf-provider/src/protocol/cty.js";
import type { AttributeSchema, Schema } from "../../cdktf-provider/src/protocol/provider-api.js";
import { provider } from "../../cdktf-provider/src/provider.js";

const docs = fileURLToPath(new URL("../../cdktf-provider/docs/", import.meta.url));

const pages: [string, string, Schema][] = [
  ["provider", "index.md", provider.schema],
  ["keyplane_credential", "resources/credential.md", provider.resources.keyplane_credential.schema],
  ["keyplane_project", "resources/project.md", provider.resources.keyplane_project.schema],
  ["keyplane_model_alias", "resources/model_alias.md", provider.resources.keyplane_model_alias.schema],
  ["keyplane_identity_binding", "resources/identity_binding.md", provider.resources.keyplane_identity_binding.schema],
  ["keyplane_credentials", "data-sources/credentials.md", provider.dataSources.keyplane_credentials.schema],
  ["keyplane_providers", "data-sources/providers.md", provider.dataSources.keyplane_providers.schema],
  ["keyplane_model_aliases", "data-sources/model_aliases.md", provider.dataSources.keyplane_model_aliases.schema],
  ["keyplane_resolved_credential", "ephemeral-resources/resolved_credential.md", provider.ephemeralResources.keyplane_resolved_credential.schema],
];

/** The type as the registry docs (tfplugindocs) write it. */
function typeName(type: CtyType): string {
  if (type === "string") return "String";
  if (type === "number") return "Number";
  if (type === "bool") return "Boolean";
  if (type === "dynamic") return "Dynamic";
  const [kind, inner] = type;
  if (kind === "object") return "Object";
  if (kind === "tuple") return "Tuple";
  return `${kind[0].toUpperCase()}${kind.slice(1)} of ${typeName(inner)}`;
}

function section(attr: AttributeSchema): string {
  return attr.required ? "Required" : attr.optional ? "Optional" : "Read-Only";
}

/** `- \`name\` (Type, Flags)` entries per `### Section` heading of the page's schema part. */
function documented(text: string): Map<string, { section: string; type: string }> {
  const entries = new Map<string, { section: string; type: string }>();
  let current = "";
  const schemaPart = text.slice(text.indexOf("## Schema"));
  for (const line of schemaPart.split("\n")) {
    const heading = /^#{3,} (.+)$/.exec(line);
    if (heading) current = heading[1];
    const entry = /^- `([a-z_]+)` \(([^)]+)\)/.exec(line);
    if (entry) {
      const key = current.startsWith("Nested Schema for `") ? `${current.slice(19, current.indexOf("`", 19))}.${entry[1]}` : entry[1];
      entries.set(key, { section: current, type: entry[2] });
    }
  }
  return entries;
}

describe.each(pages)("docs of %s (%s)", (name, file, schema) => {
  const text = readFileSync(docs + file, "utf8");
  const entries = documented(text);

  it("has registry front matter and an example", () => {
    expect(text).toMatch(/^---\npage_title: "[^"]+"\nsubcategory: ""\ndescription: \|-\n {2}\S/);
    expect(text).toContain("## Example Usage");
    if (name !== "provider") expect(text).toContain(`"${name}"`);
  });

  it("documents every attribute with its type and flags, and nothing else", () => {
    const expected = new Set<string>();
    for (const [attrName, attr] of Object.entries(schema.block.attributes)) {
      const type = attr.type!;
      const flags = [typeName(type), ...(attr.sensitive ? ["Sensitive"] : [])].join(", ");
      expected.add(attrName);
      const entry = entries.get(attrName);
      expect(entry, `${attrName} is not documented`).toBeDefined();
      expect(entry!.type, attrName).toBe([flags, ...(attr.writeOnly ? ["Write-only"] : [])].join(", "));
      if (name !== "provider") expect(entry!.section, attrName).toBe(section(attr));
      // A list of objects documents each field in a nested schema section.
      if (Array.isArray(type) && type[0] === "list" && Array.isArray(type[1]) && type[1][0] === "object") {
        for (const [field, fieldType] of Object.entries(type[1][1] as Record<string, CtyType>)) {
          const key = `${attrName}.${field}`;
          expected.add(key);
          expect(entries.get(key)?.type, `${key} is not documented`).toBe(typeName(fieldType));
        }
      }
    }
    expect([...entries.keys()].filter((k) => !expected.has(k))).toEqual([]);
  });
});

it("the resource pages document import IDs", () => {
  expect(readFileSync(docs + "resources/credential.md", "utf8")).toContain("ORG_ID/CREDENTIAL_ID");
  expect(readFileSync(docs + "resources/project.md", "utf8")).toContain("ORG_ID/PROJECT_ID");
  expect(readFileSync(docs + "resources/model_alias.md", "utf8")).toContain("ORG_ID/ALIAS_ID");
  expect(readFileSync(docs + "resources/identity_binding.md", "utf8")).toContain("ORG_ID/BINDING_ID");
});
