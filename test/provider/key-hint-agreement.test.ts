// The hint a plan shows and the hint the service stores come from one rule; this checks that the
// plugin's plan-time hint and the service's stored hint agree, including for the cases where a
// guessed prefix used to show secret characters.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nullWriteOnly, Unknown, type ObjectValue } from "../../cdktf-provider/src/protocol/index.js";
import { planResourceChange } from "../../cdktf-provider/src/protocol/planning.js";
import { connect, type KeyplaneProviderData } from "../../cdktf-provider/src/provider-data.js";
import { credentialResource, credentialSchema } from "../../cdktf-provider/src/resources/credential.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";

const caps = { deferralAllowed: false, writeOnlyAttributesAllowed: true };
const attributeNames = Object.keys(credentialSchema.block.attributes);
const cfg = (values: ObjectValue): ObjectValue => ({ ...Object.fromEntries(attributeNames.map((n) => [n, null])), ...values });
const proposed = (config: ObjectValue): ObjectValue =>
  nullWriteOnly(
    credentialSchema.block,
    Object.fromEntries(
      Object.entries(credentialSchema.block.attributes).map(([name, attr]) => [name, config[name] !== null ? config[name] : attr.computed ? Unknown : null]),
    ),
  );

interface HintCase {
  provider: string;
  type?: string;
  api_key?: string;
  fields?: Record<string, string>;
  expected: string;
}

const CASES: HintCase[] = [
  { provider: "custom", api_key: "sk-ant-admin01-hunter2hunter", expected: "…nter" },
  { provider: "custom", api_key: "sk-proj-short", expected: "…" },
  { provider: "openai", api_key: "sk-ant-admin01-hunter2hunter", expected: "sk-…nter" },
  { provider: "anthropic", api_key: "sk-ant-admin01-hunter2hunter", expected: "sk-ant-admin01-…nter" },
  { provider: "openai", api_key: "sk-proj-0123456789abcdefWXYZ", expected: "sk-proj-…WXYZ" },
  { provider: "mistral", api_key: "sk-0123456789abcdefghijQRST", expected: "…QRST" },
  { provider: "custom", type: "aws", fields: { access_key_id: "AKIAABCDEFGHIJKLMNOP", secret_access_key: "s".repeat(40) }, expected: "…MNOP" },
  { provider: "bedrock", fields: { access_key_id: "AKIAABCDEFGHIJKLMNOP", secret_access_key: "s".repeat(40) }, expected: "AKIA…MNOP" },
];

describe("the plan-time hint and the stored hint", () => {
  let service: E2eService;
  let org: SeededOrganization;
  let data: KeyplaneProviderData;

  beforeAll(async () => {
    service = await startService("pglite");
    org = await service.seedOrganization();
    data = connect({ endpoint: service.url, token: org.tokens.admin, organizationId: org.id });
  }, 60_000);
  afterAll(() => service?.close());

  for (const c of CASES) {
    it(`agree for a ${c.provider}${c.type ? ` ${c.type}` : ""} secret: ${c.expected}`, async () => {
      const name = `hint-${randomBytes(4).toString("hex")}`;
      const config = cfg({
        provider_type: c.provider,
        name,
        ...(c.type ? { type: c.type } : {}),
        ...(c.api_key ? { api_key_wo: c.api_key, api_key_wo_version: 1 } : { fields_wo: c.fields!, fields_wo_version: 1 }),
      });
      const planned = await planResourceChange(credentialResource, {
        provider: data,
        typeName: "keyplane_credential",
        signal: new AbortController().signal,
        priorState: null,
        proposedNewState: proposed(config),
        config,
        priorPrivate: Buffer.alloc(0),
        providerMeta: null,
        clientCapabilities: caps,
      });
      expect(planned.diagnostics ?? []).toEqual([]);
      const stored = await org.admin.createCredential(
        org.id,
        { provider: c.provider, name, ...(c.type ? { type: c.type } : {}), ...(c.api_key ? { api_key: c.api_key } : { fields: c.fields }) } as never,
        randomBytes(8).toString("hex"),
      );
      expect(planned.plannedState!.key_hint).toBe(c.expected);
      expect(stored.body.key_hint).toBe(c.expected);
    });
  }
});
