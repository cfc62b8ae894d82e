// Lost answers and moving defaults, through real engines against a real service. A loopback proxy
// between the plugin and the service lets a create, a rotation, a PATCH and a deactivation reach
// the service and then resets the connection instead of passing the answer on: the client retries
// with the same Idempotency-Key and gets the first attempt's answer — one credential, one new key
// version, the state holding the new values and an empty second plan. Then is_default flips
// between two managed credentials eight times, each flip one apply whose two updates run in
// whatever order the engine picks.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyHint } from "../../service/providers/catalog.js";
import { engineCases, enginesFor } from "./support/engines.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";
import { LossyProxy } from "../support/lossy-proxy.js";
import { Workdir } from "./support/workdir.js";

const engines = enginesFor("test/e2e/lost-answers.test.ts");

const openaiKey = () => `sk-proj-${randomBytes(30).toString("base64url").replace(/[-_]/g, "Q")}`;
const anthropicKey = () => `sk-ant-api03-${randomBytes(30).toString("base64url").replace(/[-_]/g, "Z")}`;

const providerTf = `
terraform {
  required_providers {
    keyplane = { source = "keyplane/keyplane" }
  }
}

variable "endpoint" { type = string }
variable "org" { type = string }
variable "token" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "keyplane" {
  endpoint        = var.endpoint
  token           = var.token
  organization_id = var.org
}
`;

const lossyTf = `
variable "openai_key" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "key_version" {
  type    = number
  default = 1
}
variable "description" {
  type    = string
  default = "first"
}

resource "keyplane_credential" "lossy" {
  provider_type      = "openai"
  name               = "lossy"
  api_key_wo         = var.openai_key
  api_key_wo_version = var.key_version
  description        = var.description
  # The rotation step resolves it: past the service's in-use guard on destroy.
  force_destroy = true
}
`;

const flipTf = `
variable "key_a" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "key_b" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "default" { type = string }

resource "keyplane_credential" "a" {
  provider_type      = "anthropic"
  name               = "flip-a"
  environment        = "flip"
  api_key_wo         = var.key_a
  api_key_wo_version = 1
  is_default         = var.default == "a"
}

resource "keyplane_credential" "b" {
  provider_type      = "anthropic"
  name               = "flip-b"
  environment        = "flip"
  api_key_wo         = var.key_b
  api_key_wo_version = 1
  is_default         = var.default == "b"
}
`;

const CREDENTIALS = /^\/v1\/organizations\/org_\w+\/credentials$/;
const ONE = /^\/v1\/organizations\/org_\w+\/credentials\/cred_\w+$/;
const ROTATE = /\/credentials\/cred_\w+\/rotate$/;
const DEACTIVATE = /\/credentials\/cred_\w+\/deactivate(\?.*)?$/;

describe.skipIf(engines.length === 0).each(engineCases(engines))("lost answers and moving defaults with $version", (engine) => {
  let service: E2eService;
  let proxy: LossyProxy;
  let org: SeededOrganization;
  const keyA = openaiKey();
  const keyB = openaiKey();
  const flipKeys = { key_a: anthropicKey(), key_b: anthropicKey() };
  let secrets: string[];
  const workdirs: Workdir[] = [];

  const workdir = (name: string, tf: string, vars: Record<string, string>) => {
    const wd = new Workdir(engine, name, { vars: { endpoint: proxy.url, org: org.id, token: org.tokens.admin, ...vars } });
    wd.write("main.tf", providerTf + tf);
    workdirs.push(wd);
    return wd;
  };
  const expectEmptyPlan = async (wd: Workdir, vars: Record<string, string> = {}) => {
    const plan = await wd.run(["plan", "-detailed-exitcode"], { vars });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("No changes");
  };
  /** The dropped attempt and its retry: one key for both, and the same If-Match. */
  const expectRetriedOnce = (method: string, path: RegExp) => {
    const seen = proxy.seen(method, path);
    expect(seen.map((r) => r.dropped)).toEqual([true, false]);
    expect(seen[0].idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[1].idempotencyKey).toBe(seen[0].idempotencyKey);
    expect(seen[1].ifMatch).toBe(seen[0].ifMatch);
    expect(seen.map((r) => r.status)).toEqual([seen[0].status, seen[0].status]);
  };

  beforeAll(async () => {
    service = await startService();
    proxy = new LossyProxy(service.url);
    await proxy.start();
    org = await service.seedOrganization();
    secrets = [keyA, keyB, flipKeys.key_a, flipKeys.key_b, org.tokens.admin, org.tokens.member, org.tokens.resolver];
  }, 120_000);

  afterAll(async () => {
    for (const wd of workdirs) wd.cleanup();
    await proxy?.stop();
    await service?.close();
  });

  describe("a lost answer", () => {
    let wd: Workdir;
    let id: string;
    const current = async () => (await org.admin.getCredential(org.id, id))!;

    beforeAll(() => {
      wd = workdir("lost-answers", lossyTf, { openai_key: keyA });
    });

    it("to a create: one credential, in the state", async () => {
      proxy.dropAnswers("POST", CREDENTIALS);
      const apply = await wd.run(["apply", "-auto-approve"]);
      expect(apply.code, apply.out).toBe(0);
      expectRetriedOnce("POST", CREDENTIALS);
      const named = (await org.admin.listCredentials(org.id, { provider: "openai" })).filter((c) => c.name === "lossy");
      expect(named).toHaveLength(1);
      id = named[0].id;
      expect(wd.instance("keyplane_credential", "lossy")!.attributes).toMatchObject({ id, key_version: 1 });
      await expectEmptyPlan(wd);
    }, 180_000);

    it("to a rotation: exactly one new key version, the state holds it, the second plan is empty", async () => {
      const vars = { openai_key: keyB, key_version: "2" };
      proxy.dropAnswers("POST", ROTATE);
      const apply = await wd.run(["apply", "-auto-approve"], { vars });
      expect(apply.code, apply.out).toBe(0);
      expect(apply.out).not.toContain("changed outside Terraform");
      expectRetriedOnce("POST", ROTATE);
      expect((await org.admin.listCredentialVersions(org.id, id)).map((v) => v.key_version)).toEqual([2, 1]);
      const now = await current();
      expect(now.body).toMatchObject({ key_version: 2, key_hint: keyHint(keyB, "openai") });
      const instance = wd.instance("keyplane_credential", "lossy")!;
      expect(instance.attributes).toMatchObject({ key_version: 2, key_hint: keyHint(keyB, "openai"), api_key_wo_version: 2 });
      expect(instance.private).toMatchObject({ etag: now.etag, key_version: 2 });
      expect((await org.resolver.resolve(org.id, { provider: "openai" })).secret).toBe(keyB);
      await expectEmptyPlan(wd, vars);
      // And the next apply does not rotate again.
      const again = await wd.run(["apply", "-auto-approve"], { vars });
      expect(again.code, again.out).toBe(0);
      expect((await current()).body.key_version).toBe(2);
    }, 180_000);

    it("to a PATCH: applied once, the state holds it, the second plan is empty", async () => {
      const vars = { openai_key: keyB, key_version: "2", description: "second" };
      const updatesBefore = (await service.auditActions(org, id)).filter((a) => a === "credential.update").length;
      proxy.dropAnswers("PATCH", ONE);
      const apply = await wd.run(["apply", "-auto-approve"], { vars });
      expect(apply.code, apply.out).toBe(0);
      expectRetriedOnce("PATCH", ONE);
      const now = await current();
      expect(now.body.description).toBe("second");
      expect((await service.auditActions(org, id)).filter((a) => a === "credential.update").length).toBe(updatesBefore + 1);
      const instance = wd.instance("keyplane_credential", "lossy")!;
      expect(instance.attributes.description).toBe("second");
      expect(instance.private).toMatchObject({ etag: now.etag });
      await expectEmptyPlan(wd, vars);
    }, 180_000);

    it("to the deactivation of a destroy: the destroy completes", async () => {
      proxy.dropAnswers("POST", DEACTIVATE);
      const destroy = await wd.run(["destroy", "-auto-approve"], { vars: { openai_key: keyB, key_version: "2", description: "second" } });
      expect(destroy.code, destroy.out).toBe(0);
      expectRetriedOnce("POST", DEACTIVATE);
      expect(await org.admin.getCredential(org.id, id)).toBeNull();
      expect(wd.assertClean(secrets, [service.logText()])).toBeGreaterThan(0);
    }, 180_000);
  });

  it("flips is_default between two managed credentials eight times, one apply each, in whatever order the engine updates them", async () => {
    const wd = workdir("default-flips", flipTf, flipKeys);
    const defaults = async () => {
      const all = await org.admin.listCredentials(org.id, { provider: "anthropic", environment: "flip" });
      return all.filter((c) => c.is_default).map((c) => c.name);
    };
    const first = await wd.run(["apply", "-auto-approve"], { vars: { default: "a" } });
    expect(first.code, first.out).toBe(0);
    expect(await defaults()).toEqual(["flip-a"]);
    for (let flip = 1; flip <= 8; flip++) {
      const target = flip % 2 === 1 ? "b" : "a";
      const apply = await wd.run(["apply", "-auto-approve"], { vars: { default: target } });
      expect(apply.code, `flip ${flip}: ${apply.out}`).toBe(0);
      expect(await defaults()).toEqual([`flip-${target}`]);
      await expectEmptyPlan(wd, { default: target });
    }
    const destroy = await wd.run(["destroy", "-auto-approve"], { vars: { default: "a" } });
    expect(destroy.code, destroy.out).toBe(0);
    expect(wd.assertClean(secrets, [service.logText()])).toBeGreaterThan(0);
  }, 600_000);
});
