// keyplane_credential's plan/apply/read/import, called the way the protocol server calls them,
// against a real Keyplane service (in-process, listening on loopback) — and the provider's
// configure checks. The engine-level behaviour is covered by test/e2e/credential*.test.ts.
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isUnknown, key, nullWriteOnly, Unknown, type Diagnostic, type ObjectValue } from "../../cdktf-provider/src/protocol/index.js";
import { planResourceChange } from "../../cdktf-provider/src/protocol/planning.js";
import { connect, type KeyplaneProviderData, type ProviderSettings } from "../../cdktf-provider/src/provider-data.js";
import { provider, resolveProviderSettings } from "../../cdktf-provider/src/provider.js";
import { credentialResource, credentialSchema } from "../../cdktf-provider/src/resources/credential.js";
import { readPrivate } from "../../cdktf-provider/src/resources/private-state.js";
import { keyHint } from "../../service/providers/catalog.js";
import { testDatabases } from "../support/db.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";

const caps = { deferralAllowed: false, writeOnlyAttributesAllowed: true };
const attributeNames = Object.keys(credentialSchema.block.attributes);
const openaiKey = () => `sk-proj-${randomBytes(24).toString("hex")}`;

/** A configuration: every attribute null unless given. */
const cfg = (values: ObjectValue): ObjectValue => ({ ...Object.fromEntries(attributeNames.map((n) => [n, null])), ...values });

/** What the engine proposes: the configuration, with prior values for computed attributes it leaves unset. */
function proposed(prior: ObjectValue | null, config: ObjectValue): ObjectValue {
  const out: ObjectValue = {};
  for (const [name, attr] of Object.entries(credentialSchema.block.attributes)) {
    out[name] = config[name] !== null ? config[name] : attr.computed ? (prior ? prior[name] : Unknown) : null;
  }
  return nullWriteOnly(credentialSchema.block, out);
}

const errors = (diagnostics: Diagnostic[] | undefined) => (diagnostics ?? []).filter((d) => d.severity === "error");

interface Managed {
  state: ObjectValue | null;
  private: Buffer;
}

describe.each(testDatabases())("keyplane_credential (%s)", (kind) => {
  let service: E2eService;
  let org: SeededOrganization;
  let settings: ProviderSettings;
  let data: KeyplaneProviderData;
  const ctx = () => ({ provider: data, typeName: "keyplane_credential", signal: new AbortController().signal });

  const plan = async (current: Managed, config: ObjectValue) =>
    planResourceChange(credentialResource, {
      ...ctx(),
      priorState: current.state,
      proposedNewState: proposed(current.state, config),
      config,
      priorPrivate: current.private,
      providerMeta: null,
      clientCapabilities: caps,
    });

  /** Plan then apply, as the engine does; returns the new managed object and every diagnostic. */
  const planApply = async (current: Managed, config: ObjectValue) => {
    const planned = await plan(current, config);
    if (errors(planned.diagnostics).length > 0) return { managed: current, planned, diagnostics: planned.diagnostics ?? [] };
    const applied = await credentialResource.apply({
      ...ctx(),
      priorState: current.state,
      plannedState: nullWriteOnly(credentialSchema.block, planned.plannedState),
      config,
      plannedPrivate: Buffer.from(planned.plannedPrivate ?? current.private),
      providerMeta: null,
    });
    return {
      managed: { state: applied.newState, private: Buffer.from(applied.private ?? current.private) },
      planned,
      diagnostics: [...(planned.diagnostics ?? []), ...(applied.diagnostics ?? [])],
    };
  };

  const refresh = async (current: Managed): Promise<Managed> => {
    const read = await credentialResource.read({
      ...ctx(),
      currentState: current.state!,
      private: current.private,
      providerMeta: null,
      clientCapabilities: caps,
    });
    expect(errors(read.diagnostics)).toEqual([]);
    return { state: read.newState, private: Buffer.from(read.private ?? current.private) };
  };

  const fresh = (): Managed => ({ state: null, private: Buffer.alloc(0) });

  beforeAll(async () => {
    service = await startService(kind);
    org = await service.seedOrganization();
    settings = { endpoint: service.url, token: org.tokens.admin, organizationId: org.id };
    data = connect(settings);
  }, 60_000);

  afterAll(async () => {
    await service?.close();
  });

  describe("validation (the service's own catalog and key rules)", () => {
    const validate = (values: ObjectValue) =>
      credentialResource.validate!({ typeName: "keyplane_credential", config: cfg(values), clientCapabilities: caps }) as Diagnostic[];

    it("names provider_type for an unknown provider, listing the catalog", () => {
      const [d] = validate({ provider_type: "openia", name: "x" });
      expect(d).toMatchObject({ severity: "error", summary: "Unknown provider type", path: ["provider_type"] });
      expect(d.detail).toContain("openai, anthropic");
    });

    it("names api_key_wo and the expected prefix for a key of the wrong format where it is sent (a create), without echoing it", async () => {
      const wrong = `pk-${randomBytes(16).toString("hex")}`;
      const config = { provider_type: "anthropic", name: "x", api_key_wo: wrong, api_key_wo_version: 1 };
      // Not while validating: whether the key is sent depends on the plan (destroy never sends it).
      expect(validate(config)).toEqual([]);
      const [d] = (await plan(fresh(), cfg(config))).diagnostics!;
      expect(d).toMatchObject({ severity: "error", summary: "Invalid api_key_wo", path: ["api_key_wo"] });
      expect(d.detail).toMatch(/starts? with "sk-ant-"/);
      expect(JSON.stringify(d)).not.toContain(wrong);
    });

    it('maps field errors of multi-field secrets onto fields_wo["name"]', async () => {
      const { diagnostics } = await plan(
        fresh(),
        cfg({
          provider_type: "bedrock",
          name: "x",
          fields_wo: { access_key_id: "nope", secret_access_key: "x".repeat(40) },
          fields_wo_version: 1,
        }),
      );
      expect(diagnostics!.map((d) => d.path)).toEqual([["fields_wo", key("access_key_id")]]);
    });

    it("checks the type against the provider, and asks for a version with every write-only secret", () => {
      expect(validate({ provider_type: "openai", name: "x", type: "aws" })[0]).toMatchObject({ path: ["type"], summary: "Invalid type" });
      expect(validate({ provider_type: "openai", name: "x", type: "magic" })[0]).toMatchObject({ path: ["type"] });
      expect(validate({ provider_type: "openai", name: "x", api_key_wo: openaiKey() })[0]).toMatchObject({ path: ["api_key_wo_version"] });
      // A version without the secret is fine until a plan sends it (ignore_changes, destroy without the secret).
      expect(validate({ provider_type: "openai", name: "x", api_key_wo_version: 2 })).toEqual([]);
      expect(
        validate({ provider_type: "openai", name: "x", api_key_wo: openaiKey(), api_key_wo_version: 1, fields_wo: { a: "b" }, fields_wo_version: 1 })[0],
      ).toMatchObject({
        path: ["fields_wo"],
      });
      // Unknown values (not yet known while validating) are left for the plan.
      expect(validate({ provider_type: "anthropic", name: "x", api_key_wo: Unknown, api_key_wo_version: 1 })).toEqual([]);
    });
  });

  describe("plan", () => {
    it("plans a create with the configured key's hint, version 1 and the catalog defaults", async () => {
      const apiKey = openaiKey();
      const result = await plan(fresh(), cfg({ provider_type: "openai", name: "p1", api_key_wo: apiKey, api_key_wo_version: 1 }));
      expect(result.diagnostics).toEqual([]);
      expect(result.plannedState).toMatchObject({
        organization_id: org.id,
        key_hint: keyHint(apiKey, "openai"),
        key_version: 1,
        type: "api_token",
        category: "llm_provider",
        env_var: "OPENAI_API_KEY",
        api_base: "https://api.openai.com/v1",
        environment: "production",
        is_default: false,
        active: true,
        rotated_at: null,
      });
      expect(isUnknown(result.plannedState!.id)).toBe(true);
      expect(JSON.stringify(result)).not.toContain(apiKey.slice(8));
    });

    it("leaves the hint unknown when the key is not known yet, and needs an organization and a secret", async () => {
      const unknownKey = await plan(fresh(), cfg({ provider_type: "openai", name: "p2", api_key_wo: Unknown, api_key_wo_version: 1 }));
      expect(isUnknown(unknownKey.plannedState!.key_hint)).toBe(true);

      const saved = data;
      data = { ...data, organizationId: undefined };
      try {
        const noOrg = await plan(fresh(), cfg({ provider_type: "openai", name: "p3", api_key_wo: openaiKey(), api_key_wo_version: 1 }));
        expect(errors(noOrg.diagnostics)[0]).toMatchObject({ summary: "No organization", path: ["organization_id"] });
      } finally {
        data = saved;
      }
      const noSecret = await plan(fresh(), cfg({ provider_type: "openai", name: "p4" }));
      expect(errors(noSecret.diagnostics)[0]).toMatchObject({ summary: "Missing api_key_wo", path: ["api_key_wo"] });
    });
  });

  describe("lifecycle against the service", () => {
    const keyA = openaiKey();
    const keyB = openaiKey();
    const keyC = openaiKey();
    const base = { provider_type: "openai", name: "life", settings: { openai_project: "proj_1" }, description: "d" };
    let managed: Managed;

    it("creates with an Idempotency-Key and remembers only the ETag and key_version privately", async () => {
      const { managed: created, diagnostics } = await planApply(fresh(), cfg({ ...base, api_key_wo: keyA, api_key_wo_version: 1 }));
      expect(diagnostics).toEqual([]);
      managed = created;
      expect(managed.state).toMatchObject({ key_hint: keyHint(keyA, "openai"), key_version: 1, api_key_wo: null, settings: { openai_project: "proj_1" } });
      expect(readPrivate(managed.private)).toEqual({ v: 1, etag: '"v1"', key_version: 1 });
      expect(managed.private.toString()).not.toContain(keyA);
      // The create carried a fresh Idempotency-Key (so the client's retries cannot create twice).
      const keys = await service.runtime.runtime.db.query<{ idem_key: string }>("select idem_key from idempotency_keys where organization_id = $1", [org.id]);
      expect(keys.rows).toHaveLength(1);
      expect(keys.rows[0].idem_key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    });

    it("plans no change when nothing changed (settings compared regardless of key order)", async () => {
      managed = await refresh(managed);
      const result = await plan(managed, cfg({ ...base, api_key_wo: keyA, api_key_wo_version: 1 }));
      expect(result.plannedState).toEqual(managed.state);
    });

    it("plans a rotation as a new hint and key_version + 1, then rotates", async () => {
      const config = cfg({ ...base, api_key_wo: keyB, api_key_wo_version: 2 });
      const result = await plan(managed, config);
      expect(result.plannedState).toMatchObject({ key_hint: keyHint(keyB, "openai"), key_version: 2 });
      expect(isUnknown(result.plannedState!.updated_at)).toBe(true);
      expect(isUnknown(result.plannedState!.rotated_at)).toBe(true);
      const { managed: rotated, diagnostics } = await planApply(managed, config);
      expect(diagnostics).toEqual([]);
      managed = rotated;
      expect(managed.state).toMatchObject({ key_hint: keyHint(keyB, "openai"), key_version: 2, api_key_wo_version: 2 });
      expect((await org.resolver.resolve(org.id, { provider: "openai" })).secret).toBe(keyB);
    });

    it("detects a rotation outside Terraform on refresh and plans to push the configured key, with a warning", async () => {
      const got = await org.admin.getCredential(org.id, managed.state!.id as string);
      await org.admin.rotateCredential(org.id, managed.state!.id as string, { api_key: keyC }, got!.etag);
      managed = await refresh(managed);
      expect(managed.state).toMatchObject({ key_version: 3, key_hint: keyHint(keyC, "openai") });
      expect(readPrivate(managed.private).key_version).toBe(2);

      const config = cfg({ ...base, api_key_wo: keyB, api_key_wo_version: 2 });
      const { managed: restored, planned, diagnostics } = await planApply(managed, config);
      expect(planned.plannedState).toMatchObject({ key_hint: keyHint(keyB, "openai"), key_version: 4 });
      expect(diagnostics).toHaveLength(1);
      expect(diagnostics[0]).toMatchObject({ severity: "warning", summary: "Credential rotated outside Terraform", path: ["api_key_wo"] });
      expect(diagnostics[0].detail).toContain("key_version 3");
      expect(diagnostics[0].detail).toContain("last version Terraform pushed is 2");
      expect(diagnostics[0].detail).toContain("as key_version 4");
      managed = restored;
      expect(readPrivate(managed.private).key_version).toBe(4);
      expect((await org.resolver.resolve(org.id, { provider: "openai" })).secret).toBe(keyB);
    });

    it("turns a stale ETag (412) into 'changed outside Terraform since the last refresh', changing nothing", async () => {
      const stale = managed;
      const got = await org.admin.getCredential(org.id, managed.state!.id as string);
      await org.admin.updateCredential(org.id, managed.state!.id as string, { owner: "someone" }, got!.etag);
      const { managed: after, diagnostics } = await planApply(stale, cfg({ ...base, description: "new", api_key_wo: keyB, api_key_wo_version: 2 }));
      expect(diagnostics).toHaveLength(1);
      expect(diagnostics[0]).toMatchObject({ severity: "error", summary: "Credential changed outside Terraform" });
      expect(diagnostics[0].detail).toContain("changed outside Terraform since the last refresh");
      expect(diagnostics[0].detail).toContain("Run plan again");
      expect(after.state).toEqual(stale.state);
      expect((await org.admin.getCredential(org.id, managed.state!.id as string))!.body.description).toBe("d");
      managed = await refresh(managed);
    });

    it("rejects a malformed key while planning, without echoing it", async () => {
      const bad = `sk-${"!".repeat(30)}`; // passes the prefix check, fails the character pattern
      const planned = await plan(managed, cfg({ ...base, api_key_wo: bad, api_key_wo_version: 3 }));
      expect(errors(planned.diagnostics)[0]).toMatchObject({ path: ["api_key_wo"] });
      expect(JSON.stringify(planned.diagnostics)).not.toContain(bad);
    });

    it("keeps the old api_key_wo_version when a rotation fails at apply, so the next plan proposes it again", async () => {
      const config = cfg({ ...base, description: "patched", api_key_wo: keyB, api_key_wo_version: 3 });
      const planned = await plan(managed, config);
      expect(planned.plannedState).toMatchObject({ key_version: 5, description: "patched" });
      // The service refuses the rotation after the PATCH went through (here: a key it rejects).
      const applied = await credentialResource.apply({
        ...ctx(),
        priorState: managed.state,
        plannedState: nullWriteOnly(credentialSchema.block, planned.plannedState),
        config: { ...config, api_key_wo: "sk-short!" },
        plannedPrivate: managed.private,
        providerMeta: null,
      });
      expect(errors(applied.diagnostics)[0]).toMatchObject({ path: ["api_key_wo"] });
      expect(applied.newState).toMatchObject({ description: "patched", key_version: 4, api_key_wo_version: 2 });
      managed = { state: applied.newState, private: Buffer.from(applied.private!) };
      expect(readPrivate(managed.private)).toMatchObject({ key_version: 4 });
      const again = await plan(managed, config);
      expect(again.plannedState).toMatchObject({ key_version: 5, key_hint: keyHint(keyB, "openai") });
      // Back to the configuration of the other tests.
      const { managed: back } = await planApply(managed, cfg({ ...base, api_key_wo: keyB, api_key_wo_version: 2 }));
      managed = back;
      expect(managed.state).toMatchObject({ description: "d", key_version: 4 });
    });

    it("maps the service's 422 and 409 field errors onto attribute paths", async () => {
      const withBadSetting = await planApply(managed, cfg({ ...base, settings: { region: "eu" }, api_key_wo: keyB, api_key_wo_version: 2 }));
      expect(withBadSetting.diagnostics).toHaveLength(1);
      expect(withBadSetting.diagnostics[0]).toMatchObject({ severity: "error", path: ["settings", key("region")] });
      expect(withBadSetting.diagnostics[0].detail).toContain("openai_organization, openai_project");

      const duplicate = await planApply(fresh(), cfg({ ...base, api_key_wo: openaiKey(), api_key_wo_version: 1 }));
      expect(duplicate.diagnostics[0]).toMatchObject({ severity: "error", path: ["name"] });
      expect(duplicate.managed.state).toBeNull();

      // Past the plan-time checks (as with a provider catalog newer than the service): body.provider → provider_type.
      const applied = await credentialResource.apply({
        ...ctx(),
        priorState: null,
        plannedState: { ...managed.state!, provider_type: "nonexistent", name: "n", id: Unknown },
        config: cfg({ api_key_wo: openaiKey() }),
        plannedPrivate: Buffer.alloc(0),
        providerMeta: null,
      });
      expect(applied.diagnostics![0]).toMatchObject({ severity: "error", path: ["provider_type"] });
    });

    it("imports ORG_ID/CREDENTIAL_ID and adopts the current key_version", async () => {
      const bad = await credentialResource.import!({ ...ctx(), id: "cred_only", clientCapabilities: caps });
      expect(bad.diagnostics![0].detail).toContain("ORG_ID/CREDENTIAL_ID");

      const imported = await credentialResource.import!({ ...ctx(), id: `${org.id}/${managed.state!.id}`, clientCapabilities: caps });
      const read = await refresh({ state: imported.state, private: Buffer.from(imported.private!) });
      expect(read.state).toMatchObject({ id: managed.state!.id, name: "life", key_version: 4, api_key_wo_version: null });
      expect(readPrivate(read.private)).toMatchObject({ key_version: 4 });
      // Without a configured secret there is nothing to rotate, and no warning.
      const noSecret = await plan(read, cfg({ ...base, owner: "someone" }));
      expect(noSecret.diagnostics).toEqual([]);
      expect(noSecret.plannedState!.key_version).toBe(4);

      // Nor is a rotation outside Terraform drift then: it is adopted.
      const got = await org.admin.getCredential(org.id, managed.state!.id as string);
      await org.admin.rotateCredential(org.id, managed.state!.id as string, { api_key: keyC }, got!.etag);
      const rotated = await refresh(read);
      expect(readPrivate(rotated.private).key_version).toBe(4);
      const adopted = await plan(rotated, cfg({ ...base, owner: "someone" }));
      expect(adopted.diagnostics).toEqual([]);
      expect(adopted.plannedState).toMatchObject({ key_version: 5, key_hint: keyHint(keyC, "openai") });
      expect(readPrivate(adopted.plannedPrivate)).toMatchObject({ key_version: 5 });
      managed = await refresh(managed);
    });

    it("refuses to destroy a credential resolved minutes ago unless force_destroy; then deactivates and deletes; one already gone is forgotten", async () => {
      const id = managed.state!.id as string;
      // The rotation tests above resolved it: the service's in-use guard answers 409, explained.
      const refused = await credentialResource.apply({
        ...ctx(),
        priorState: managed.state,
        plannedState: null,
        config: null,
        plannedPrivate: managed.private,
        providerMeta: null,
      });
      expect(errors(refused.diagnostics)[0]).toMatchObject({ summary: "Credential still in use", path: ["force_destroy"] });
      expect(errors(refused.diagnostics)[0].detail).toMatch(/last resolved at .*force_destroy = true/s);
      expect(refused.newState).toEqual(managed.state);
      expect((await org.admin.getCredential(org.id, id))!.body.active).toBe(true);

      managed = { ...managed, state: { ...managed.state!, force_destroy: true } };
      const destroyed = await credentialResource.apply({
        ...ctx(),
        priorState: managed.state,
        plannedState: null,
        config: null,
        plannedPrivate: managed.private,
        providerMeta: null,
      });
      expect(destroyed).toEqual({ newState: null });
      expect((await service.auditActions(org, id)).slice(-2)).toEqual(["credential.deactivate", "credential.delete"]);

      const again = await credentialResource.apply({
        ...ctx(),
        priorState: managed.state,
        plannedState: null,
        config: null,
        plannedPrivate: managed.private,
        providerMeta: null,
      });
      expect(again).toEqual({ newState: null });
      const read = await credentialResource.read({
        ...ctx(),
        currentState: managed.state!,
        private: managed.private,
        providerMeta: null,
        clientCapabilities: caps,
      });
      expect(read.newState).toBeNull();
    });
  });

  it("answers a burst of refresh reads with one listing; a lone read, or one the listing lacks, asks directly", async () => {
    const created: Managed[] = [];
    for (let i = 0; i < 4; i++) {
      created.push((await planApply(fresh(), cfg({ provider_type: "openai", name: `burst-${i}`, api_key_wo: openaiKey(), api_key_wo_version: 1 }))).managed);
    }
    const gone = created.pop()!;
    const got = await org.admin.getCredential(org.id, gone.state!.id as string);
    await org.admin.setCredentialActive(org.id, gone.state!.id as string, false, got!.etag);
    await org.admin.deleteCredential(org.id, gone.state!.id as string);

    // A provider configured anew, as in a new plugin process: nothing listed yet.
    const provider = { ...data };
    const read = async (m: Managed) =>
      credentialResource.read({ ...ctx(), provider, currentState: m.state!, private: m.private, providerMeta: null, clientCapabilities: caps });
    const calls = (operation: string) =>
      service
        .logText()
        .split("\n")
        .filter((line) => line.includes(`"operation":"${operation}"`)).length;
    const [lists, gets] = [calls("listCredentials"), calls("getCredential")];

    const burst = await Promise.all([...created, gone].map(read));
    created.forEach((m, i) => {
      expect(burst[i].newState).toEqual(m.state);
      expect(readPrivate(Buffer.from(burst[i].private!))).toEqual(readPrivate(m.private));
    });
    expect(burst[created.length].newState).toBeNull();
    // One listing for the burst; the deleted credential, absent from it, was confirmed by its own GET.
    expect([calls("listCredentials") - lists, calls("getCredential") - gets]).toEqual([1, 1]);

    // A lone read while the listing is fresh is answered from it; another provider block has its own.
    await read(created[0]);
    expect([calls("listCredentials") - lists, calls("getCredential") - gets]).toEqual([1, 1]);
    const other = connect(settings);
    await credentialResource.read({
      ...ctx(),
      provider: other,
      currentState: created[1].state!,
      private: created[1].private,
      providerMeta: null,
      clientCapabilities: caps,
    });
    expect([calls("listCredentials") - lists, calls("getCredential") - gets]).toEqual([1, 2]);
  });

  describe("moving api_base or settings.endpoint (the service takes a new destination only with the secret)", () => {
    const gatewayA = "https://gateway-a.example.com/v1";
    const gatewayB = "https://gateway-b.example.com/v1";

    it("plans a change of api_base as a rotation with the configured key, and applies it through rotate", async () => {
      const apiKey = openaiKey();
      const config = cfg({ provider_type: "openai", name: "moving", api_base: gatewayA, description: "d", api_key_wo: apiKey, api_key_wo_version: 1 });
      const created = await planApply(fresh(), config);
      expect(created.diagnostics).toEqual([]);
      const moved = cfg({ ...config, api_base: gatewayB, description: "moved" });
      const planned = await plan(created.managed, moved);
      expect(planned.diagnostics).toEqual([]);
      expect(planned.plannedState).toMatchObject({ api_base: gatewayB, key_version: 2, key_hint: keyHint(apiKey, "openai") });
      expect(isUnknown(planned.plannedState!.rotated_at)).toBe(true);

      const applied = await planApply(created.managed, moved);
      expect(applied.diagnostics).toEqual([]);
      expect(applied.managed.state).toMatchObject({ api_base: gatewayB, description: "moved", key_version: 2, api_key_wo_version: 1 });
      expect(readPrivate(applied.managed.private)).toMatchObject({ key_version: 2 });
      const id = created.managed.state!.id as string;
      // The other change went by PATCH, the new api_base with the key by rotate.
      expect((await service.auditActions(org, id)).slice(-2)).toEqual(["credential.update", "credential.rotate"]);
      const again = await plan(applied.managed, moved);
      expect(again.plannedState).toEqual(applied.managed.state);
    });

    it("without a configured key, stops the plan with an error naming api_base and saying the key is needed", async () => {
      const created = await planApply(
        fresh(),
        cfg({ provider_type: "openai", name: "keyless", api_base: gatewayA, api_key_wo: openaiKey(), api_key_wo_version: 1 }),
      );
      // As after an import: the configuration does not manage the secret.
      const keyless = { ...created.managed, state: { ...created.managed.state!, api_key_wo_version: null } };
      const planned = await plan(keyless, cfg({ provider_type: "openai", name: "keyless", api_base: gatewayB }));
      expect(errors(planned.diagnostics)).toHaveLength(1);
      expect(planned.diagnostics![0]).toMatchObject({ severity: "error", summary: "Changing api_base needs the secret", path: ["api_base"] });
      expect(planned.diagnostics![0].detail).toContain("set api_key_wo and api_key_wo_version");
      expect(planned.diagnostics![0].detail).toContain("only to the destination it was stored with");
      // Keeping api_base as it is plans no rotation.
      const same = await plan(keyless, cfg({ provider_type: "openai", name: "keyless", api_base: gatewayA }));
      expect(same.diagnostics).toEqual([]);
    });

    it("treats azure_openai's settings.endpoint the same way; other settings change by PATCH", async () => {
      const apiKey = `azure${randomBytes(16).toString("hex")}`;
      const config = cfg({
        provider_type: "azure_openai",
        name: "azure",
        settings: { endpoint: "https://a.openai.azure.com", api_version: "2024-06-01" },
        api_key_wo: apiKey,
        api_key_wo_version: 1,
      });
      const created = await planApply(fresh(), config);
      expect(created.diagnostics).toEqual([]);
      const versionOnly = await planApply(created.managed, cfg({ ...config, settings: { endpoint: "https://a.openai.azure.com", api_version: "2025-01-01" } }));
      expect(versionOnly.diagnostics).toEqual([]);
      expect(versionOnly.managed.state).toMatchObject({ key_version: 1, settings: { api_version: "2025-01-01" } });

      const keyless = await plan(
        { ...versionOnly.managed, state: { ...versionOnly.managed.state!, api_key_wo_version: null } },
        cfg({ provider_type: "azure_openai", name: "azure", settings: { endpoint: "https://b.openai.azure.com", api_version: "2025-01-01" } }),
      );
      expect(errors(keyless.diagnostics)[0]).toMatchObject({ summary: "Changing settings.endpoint needs the secret", path: ["settings", key("endpoint")] });

      const moved = await planApply(versionOnly.managed, cfg({ ...config, settings: { endpoint: "https://b.openai.azure.com", api_version: "2025-01-01" } }));
      expect(moved.diagnostics).toEqual([]);
      expect(moved.managed.state).toMatchObject({ key_version: 2, settings: { endpoint: "https://b.openai.azure.com", api_version: "2025-01-01" } });
    });

    it("leaves key_version unknown while api_base is unknown, and rejects an api_base with a query while validating", async () => {
      const created = await planApply(
        fresh(),
        cfg({ provider_type: "openai", name: "unknown-base", api_base: gatewayA, api_key_wo: openaiKey(), api_key_wo_version: 1 }),
      );
      const planned = await plan(
        created.managed,
        cfg({ provider_type: "openai", name: "unknown-base", api_base: Unknown, api_key_wo: openaiKey(), api_key_wo_version: 1 }),
      );
      expect(planned.diagnostics).toEqual([]);
      expect(isUnknown(planned.plannedState!.key_version)).toBe(true);
      expect(isUnknown(planned.plannedState!.key_hint)).toBe(true);

      const validate = (values: ObjectValue) =>
        credentialResource.validate!({ typeName: "keyplane_credential", config: cfg(values), clientCapabilities: caps }) as Diagnostic[];
      for (const api_base of [`${gatewayA}?`, `${gatewayA}?x=1`, `${gatewayA}#f`, "https://user:pw@gateway-a.example.com/v1"]) {
        const [d] = validate({ provider_type: "openai", name: "x", api_base });
        expect(d, api_base).toMatchObject({ severity: "error", summary: "Invalid api_base", path: ["api_base"] });
        expect(d.detail).not.toContain("pw");
      }
    });
  });

  it("manages a multi-field secret through fields_wo and fields_wo_version", async () => {
    const fields = (id: string) => ({ access_key_id: id, secret_access_key: randomBytes(24).toString("base64url") });
    const first = fields(`AKIA${randomBytes(8).toString("hex").toUpperCase()}`);
    const config = cfg({ provider_type: "bedrock", name: "aws", settings: { region: "eu-west-1" }, fields_wo: first, fields_wo_version: 1 });
    const created = await planApply(fresh(), config);
    expect(created.diagnostics).toEqual([]);
    expect(created.planned.plannedState).toMatchObject({ type: "aws", key_hint: keyHint(first.access_key_id, "bedrock") });
    expect(created.managed.state).toMatchObject({ type: "aws", key_hint: keyHint(first.access_key_id, "bedrock"), fields_wo: null, key_version: 1 });

    const second = fields(`AKIA${randomBytes(8).toString("hex").toUpperCase()}`);
    const rotated = await planApply(created.managed, { ...config, fields_wo: second, fields_wo_version: 2 });
    expect(rotated.diagnostics).toEqual([]);
    expect(rotated.managed.state).toMatchObject({ key_hint: keyHint(second.access_key_id, "bedrock"), key_version: 2, fields_wo_version: 2 });
    const resolved = await org.resolver.resolve(org.id, { provider: "bedrock" });
    expect(resolved.fields).toEqual(second);
    const text = JSON.stringify([created, rotated].map((r) => ({ ...r, managed: { ...r.managed, private: r.managed.private.toString() } })));
    expect(text).not.toContain(second.secret_access_key);
    expect(text).not.toContain(first.secret_access_key);
  });

  describe("rotation_grace_seconds (grace for the previous key of a rotation made by apply)", () => {
    const mistralKey = () => randomBytes(24).toString("hex");

    it("accepts whole seconds up to 7 days, at the attribute", () => {
      const invalid = (grace: number) =>
        credentialResource.validate!({ ...ctx(), config: cfg({ provider_type: "mistral", name: "g", rotation_grace_seconds: grace }) } as never);
      expect(invalid(604_800)).toEqual([]);
      for (const grace of [604_801, -1, 1.5]) {
        expect(invalid(grace)).toMatchObject([{ severity: "error", summary: "Invalid rotation_grace_seconds", path: ["rotation_grace_seconds"] }]);
      }
    });

    it("changing it alone is an in-place change of the state that calls nothing; a rotation sends it as grace_seconds", async () => {
      const keyA = mistralKey();
      const keyB = mistralKey();
      const config = cfg({ provider_type: "mistral", name: "graceful", api_key_wo: keyA, api_key_wo_version: 1 });
      const created = await planApply(fresh(), config);
      expect(created.diagnostics).toEqual([]);
      expect(created.managed.state).toMatchObject({ rotation_grace_seconds: 0 });
      const id = created.managed.state!.id as string;
      const actions = (await service.auditActions(org, id)).length;

      const graced = cfg({ ...config, rotation_grace_seconds: 3600 });
      const planned = await plan(created.managed, graced);
      expect(planned.diagnostics).toEqual([]);
      // Nothing the service holds changes: no rotation, no updated_at.
      expect(planned.plannedState).toEqual({ ...created.managed.state, rotation_grace_seconds: 3600 });
      const applied = await planApply(created.managed, graced);
      expect(applied.diagnostics).toEqual([]);
      expect(applied.managed.state).toMatchObject({ rotation_grace_seconds: 3600, key_version: 1 });
      expect(await service.auditActions(org, id)).toHaveLength(actions);

      // A refresh keeps it (the service holds no standing grace).
      const refreshed = await refresh(applied.managed);
      expect(refreshed.state).toMatchObject({ rotation_grace_seconds: 3600 });
      const rotated = await planApply(refreshed, cfg({ ...graced, api_key_wo: keyB, api_key_wo_version: 2 }));
      expect(rotated.diagnostics).toEqual([]);
      expect(rotated.managed.state).toMatchObject({ key_version: 2, rotation_grace_seconds: 3600 });
      expect((await org.resolver.resolve(org.id, { provider: "mistral" })).secret).toBe(keyB);
      expect((await org.resolver.resolve(org.id, { provider: "mistral", version: "previous" })).secret).toBe(keyA);
    });

    it("stops a plan that moves api_base with a grace above 0, at rotation_grace_seconds", async () => {
      const config = cfg({ provider_type: "mistral", name: "moving-graceful", api_key_wo: mistralKey(), api_key_wo_version: 1, rotation_grace_seconds: 600 });
      const created = await planApply(fresh(), config);
      expect(created.diagnostics).toEqual([]);
      const moved = await plan(created.managed, cfg({ ...config, api_base: "https://gateway.example.com/mistral/v1" }));
      expect(errors(moved.diagnostics)).toMatchObject([{ summary: "No grace when api_base changes", path: ["rotation_grace_seconds"] }]);
      expect(moved.diagnostics![0].detail).toContain("rotation_grace_seconds = 0");
      const ungraced = await planApply(created.managed, cfg({ ...config, api_base: "https://gateway.example.com/mistral/v1", rotation_grace_seconds: 0 }));
      expect(ungraced.diagnostics).toEqual([]);
      expect(ungraced.managed.state).toMatchObject({ key_version: 2, api_base: "https://gateway.example.com/mistral/v1" });
    });

    it("maps the service's refusal of grace_seconds onto rotation_grace_seconds", async () => {
      const config = cfg({ provider_type: "mistral", name: "unplanned-move", api_key_wo: mistralKey(), api_key_wo_version: 1 });
      const created = await planApply(fresh(), config);
      expect(created.diagnostics).toEqual([]);
      // Straight to apply, as when api_base was unknown while planning: the service is the last line.
      const gateway = "https://gateway.example.com/mistral/v1";
      const applied = await credentialResource.apply({
        ...ctx(),
        priorState: created.managed.state,
        plannedState: { ...created.managed.state!, api_base: gateway, rotation_grace_seconds: 600, key_version: 2, rotated_at: Unknown },
        config: cfg({ ...config, api_base: gateway, rotation_grace_seconds: 600 }),
        plannedPrivate: created.managed.private,
        providerMeta: null,
      });
      expect(errors(applied.diagnostics)).toMatchObject([{ path: ["rotation_grace_seconds"] }]);
      expect(applied.diagnostics![0].detail).toContain("rotation_grace_seconds");
    });
  });

  describe("lifecycles the engines produce (ignore_changes, unknown versions, keys that change at apply, destroy)", () => {
    const keyA = openaiKey();
    const base = { provider_type: "openai", name: "engines", force_destroy: true };
    let managed: Managed;

    it("plans no change for an ignore_changes-adjusted configuration (write-only values null) or an invalid key at an unchanged version", async () => {
      ({ managed } = await planApply(fresh(), cfg({ ...base, api_key_wo: keyA, api_key_wo_version: 1 })));
      managed = await refresh(managed);
      expect((await plan(managed, cfg({ ...base, api_key_wo: null, api_key_wo_version: 1 }))).plannedState).toEqual(managed.state);
      const placeholder = await plan(managed, cfg({ ...base, api_key_wo: "x", api_key_wo_version: 1 }));
      expect(placeholder.diagnostics).toEqual([]);
      expect(placeholder.plannedState).toEqual(managed.state);
      // Sending it is another matter: a rotation checks the key, and needs one.
      expect(errors((await plan(managed, cfg({ ...base, api_key_wo: "x", api_key_wo_version: 2 }))).diagnostics)[0]).toMatchObject({
        summary: "Invalid api_key_wo",
        path: ["api_key_wo"],
      });
      const missing = errors((await plan(managed, cfg({ ...base, api_key_wo: null, api_key_wo_version: 2 }))).diagnostics)[0];
      expect(missing).toMatchObject({ summary: "Missing api_key_wo", path: ["api_key_wo"] });
      expect(missing.detail).toContain("api_key_wo_version changed");
    });

    it("plans key_version, key_hint and rotated_at as unknown while api_key_wo_version is unknown; unchanged at apply, nothing is sent", async () => {
      const planned = (await plan(managed, cfg({ ...base, api_key_wo: keyA, api_key_wo_version: Unknown }))).plannedState!;
      for (const name of ["key_version", "key_hint", "rotated_at", "updated_at"]) expect(isUnknown(planned[name]), name).toBe(true);
      const { managed: after, diagnostics } = await planApply(managed, cfg({ ...base, api_key_wo: keyA, api_key_wo_version: 1 }));
      expect(diagnostics).toEqual([]);
      expect(after.state).toMatchObject({ key_version: 1, updated_at: managed.state!.updated_at });
    });

    it("plan_key_hint = false plans the hint as known after apply; true stops an apply whose key is not the planned one, sending nothing", async () => {
      const keyB = openaiKey();
      const unplanned = await plan(managed, cfg({ ...base, plan_key_hint: false, api_key_wo: keyB, api_key_wo_version: 2 }));
      expect(unplanned.plannedState).toMatchObject({ key_version: 2, plan_key_hint: false });
      expect(isUnknown(unplanned.plannedState!.key_hint)).toBe(true);

      const reviewed = await plan(managed, cfg({ ...base, api_key_wo: keyB, api_key_wo_version: 2 }));
      expect(reviewed.plannedState!.key_hint).toBe(keyHint(keyB, "openai"));
      const other = openaiKey();
      const applied = await credentialResource.apply({
        ...ctx(),
        priorState: managed.state,
        plannedState: nullWriteOnly(credentialSchema.block, reviewed.plannedState),
        config: cfg({ ...base, api_key_wo: other, api_key_wo_version: 2 }),
        plannedPrivate: managed.private,
        providerMeta: null,
      });
      expect(errors(applied.diagnostics)[0]).toMatchObject({ summary: "Key differs from the reviewed plan", path: ["key_hint"] });
      expect(JSON.stringify(applied.diagnostics)).not.toContain(other);
      expect((await org.admin.getCredential(org.id, managed.state!.id as string))!.body.key_version).toBe(1);
    });

    it("destroys after a change made outside Terraform that was not refreshed (destroy -refresh=false): re-reads, then deletes", async () => {
      const id = managed.state!.id as string;
      const got = await org.admin.getCredential(org.id, id);
      await org.admin.updateCredential(org.id, id, { description: "edited by hand" }, got!.etag);
      const destroyed = await credentialResource.apply({
        ...ctx(),
        priorState: managed.state,
        plannedState: null,
        config: null,
        plannedPrivate: managed.private,
        providerMeta: null,
      });
      expect(destroyed).toEqual({ newState: null });
      expect(await org.admin.getCredential(org.id, id)).toBeNull();
    });

    it("validates what the catalog and the contract know, at the attribute", () => {
      const validate = (values: ObjectValue) =>
        credentialResource.validate!({
          typeName: "keyplane_credential",
          config: cfg({ provider_type: "openai", name: "v", ...values }),
          clientCapabilities: caps,
        }) as Diagnostic[];
      const cases: [ObjectValue, string[]][] = [
        [{ name: "" }, ["name"]],
        [{ owner: "" }, ["owner"]],
        [{ environment: "" }, ["environment"]],
        [{ rotation_period_days: 0 }, ["rotation_period_days"]],
        [{ rotation_period_days: 1.5 }, ["rotation_period_days"]],
        [{ settings: { region: "eu" } }, ["settings", "region"]],
        [{ env_var: "openai key" }, ["env_var"]],
        [{ env_var: "LD_PRELOAD" }, ["env_var"]],
        [{ env_var: "HTTPS_PROXY" }, ["env_var"]],
        [{ api_base: "ftp://example.com" }, ["api_base"]],
        [{ api_base: "example.com/v1" }, ["api_base"]],
        [{ category: "llm" }, ["category"]],
      ];
      for (const [values, path] of cases) {
        const found = validate(values);
        expect(found, JSON.stringify(values)).toHaveLength(1);
        expect(
          found[0].path!.map((p) => (typeof p === "string" ? p : (p as { key: string }).key)),
          JSON.stringify(values),
        ).toEqual(path);
      }
      expect(validate({ env_var: "OPENAI_KEY_PROD", settings: { openai_project: "p" }, rotation_period_days: 30, owner: "team" })).toEqual([]);
    });
  });

  describe("provider configuration", () => {
    const configure = (config: ObjectValue) =>
      provider.configure({ config: { endpoint: null, token: null, organization_id: null, ...config }, terraformVersion: "1.11.0", clientCapabilities: caps });

    it("fails on token when no token is set anywhere (block or KEYPLANE_TOKEN)", async () => {
      expect(resolveProviderSettings({ endpoint: service.url, token: null, organization_id: null }, {}).diagnostics[0]).toMatchObject({
        summary: "Missing Keyplane token",
        path: ["token"],
      });
      expect(resolveProviderSettings({ endpoint: service.url, token: null, organization_id: null }, { KEYPLANE_TOKEN: "kp_x" }).diagnostics).toEqual([]);
    });

    it("names endpoint when nothing answers, or something that is not Keyplane does", async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as { port: number }).port;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const down = await configure({ endpoint: `http://127.0.0.1:${port}`, token: org.tokens.admin });
      expect(down.diagnostics![0]).toMatchObject({ summary: "Keyplane service unreachable", path: ["endpoint"] });
      expect(down.diagnostics![0].detail).toContain("ECONNREFUSED");

      const wrongPath = await configure({ endpoint: `${service.url}/not-keyplane`, token: org.tokens.admin });
      expect(wrongPath.diagnostics![0]).toMatchObject({ summary: "Not a Keyplane service", path: ["endpoint"] });
    });

    it("names token when the service rejects it, and configures with a good one", async () => {
      const rejected = await configure({ endpoint: service.url, token: `kp_${randomBytes(32).toString("base64url")}` });
      expect(rejected.diagnostics![0]).toMatchObject({ summary: "Keyplane token rejected", path: ["token"] });
      const ok = await configure({ endpoint: service.url, token: org.tokens.resolver, organization_id: org.id });
      expect(ok.diagnostics).toEqual([]);
      expect(ok.data).toMatchObject({ endpoint: service.url, organizationId: org.id });
    });

    it("names organization_id when the token belongs to another organization (checked with GET /v1/whoami)", async () => {
      const other = await service.seedOrganization();
      const wrong = await configure({ endpoint: service.url, token: org.tokens.admin, organization_id: other.id });
      expect(wrong.diagnostics![0]).toMatchObject({ summary: "Token of another organization", path: ["organization_id"] });
      expect(wrong.diagnostics![0].detail).toContain(`belongs to organization ${org.id}`);
      expect(JSON.stringify(wrong.diagnostics)).not.toContain(org.tokens.admin);
    });
  });
});
