/**
 * Installing the provider with a plain `init` from the Keyplane service itself: the service (a
 * separate process) terminates TLS with a certificate from the test's own CA and serves the
 * release `npm run build:provider` made (built by the global setup), published into a directory of
 * its own and re-signed with a key the test generates. Each engine runs `init`, `plan` and `apply`
 * with `source = "localhost:<port>/keyplane/keyplane"` and nothing but SSL_CERT_FILE: no CLI
 * configuration, no dev_overrides, a fresh HOME. A tampered zip and a signature by another key make
 * `init` fail.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseFiles, publishReleases } from "../../service/provider-registry/registry-service.js";
import { generateSigningKey, signDetached } from "../../service/provider-registry/release-signing.js";
import { callApi, serviceEnv, startServiceProcess, type ServiceProcess } from "../support/service-process.js";
import { engineCases, enginesFor, repoRoot, type Engine } from "./support/engines.js";
import { writeTestCa } from "../support/test-ca.js";

const engines = enginesFor("provider registry e2e");
const BUILD = join(repoRoot, "dist/provider");
const VERSION = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
const OS = process.platform === "win32" ? "windows" : process.platform;
const ARCH = process.arch === "x64" ? "amd64" : process.arch;

interface EngineRun {
  code: number | null;
  out: string;
}

describe.skipIf(engines.length === 0)("provider installed by init from the Keyplane registry", () => {
  let root: string;
  let releases: string;
  let caFile: string;
  let service: ServiceProcess;
  let host: string;
  let token: string;
  let orgId: string;
  const files = releaseFiles(VERSION);
  const zipName = files.zip(OS, ARCH);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "kp-registry-"));
    releases = join(root, "releases");
    // What `keyplane provider publish` does, then the test's own signing key over the sums.
    expect(await publishReleases(BUILD, releases)).toEqual([VERSION]);
    const key = await generateSigningKey({ name: "registry e2e", rsaBits: 2048 });
    const signed = await signDetached(readFileSync(join(releases, files.sums)), key.privateKey);
    writeFileSync(join(releases, files.signature), signed.signature);
    writeFileSync(join(releases, files.signingKey), key.publicKey);

    const ca = writeTestCa(root);
    caFile = ca.caFile;

    const env = serviceEnv(join(root, "data"));
    env.extra = {
      ...ca.serviceTls,
      KEYPLANE_PROVIDER_DIR: releases,
      KEYPLANE_LOG_LEVEL: "warn",
    };
    service = await startServiceProcess(env);
    host = new URL(service.url).host;
    const org = await callApi(service.url, "POST", "/v1/organizations", env.bootstrapToken, {
      name: "Registry E2E",
      slug: `reg-${randomBytes(3).toString("hex")}`,
    });
    orgId = org.body.id;
    token = (await callApi(service.url, "POST", `/v1/organizations/${orgId}/tokens`, env.bootstrapToken, { role: "admin", name: "registry e2e" })).body.token;
  }, 180_000);

  afterAll(async () => {
    service?.child.kill("SIGTERM");
    await service?.exited;
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("serves the registry protocol without a token", async () => {
    const discovery = await fetch(`${service.url}/.well-known/terraform.json`);
    expect(await discovery.json()).toEqual({ "providers.v1": "/v1/terraform/providers/" });
    const versions = await (await fetch(`${service.url}/v1/terraform/providers/keyplane/keyplane/versions`)).json();
    expect(versions).toEqual({ versions: [{ version: VERSION, protocols: ["6.0"], platforms: [{ os: OS, arch: ARCH }] }] });
    const download = await (await fetch(`${service.url}/v1/terraform/providers/keyplane/keyplane/${VERSION}/download/${OS}/${ARCH}`)).json();
    expect(download).toMatchObject({
      filename: zipName,
      download_url: `/v1/terraform/providers/keyplane/keyplane/${VERSION}/files/${zipName}`,
      shasum: createHash("sha256")
        .update(readFileSync(join(releases, zipName)))
        .digest("hex"),
      signing_keys: {
        gpg_public_keys: [{ key_id: expect.stringMatching(/^[0-9A-F]{16}$/), ascii_armor: expect.stringContaining("BEGIN PGP PUBLIC KEY BLOCK") }],
      },
    });
    expect((await fetch(`${service.url}/v1/terraform/providers/other/keyplane/versions`)).status).toBe(404);
    expect((await fetch(`${service.url}/v1/terraform/providers/keyplane/keyplane/${VERSION}/files/..%2Fserver.key`)).status).toBe(404);
  });

  describe.each(engineCases(engines))("$kind ($version)", (engine) => {
    it.skipIf(!engine.bin)(
      "init installs and verifies it, and plan and apply use it over HTTPS",
      async () => {
        const work = workdir(engine, "ok");
        const init = await runEngine(engine, work, ["init", "-no-color", "-input=false"]);
        expect(init.code, init.out).toBe(0);
        expect(init.out).toContain(`Installed ${host}/keyplane/keyplane v${VERSION}`);
        const lock = readFileSync(join(work, ".terraform.lock.hcl"), "utf8");
        const zipSha = createHash("sha256")
          .update(readFileSync(join(releases, zipName)))
          .digest("hex");
        expect(lock).toContain(`provider "${host}/keyplane/keyplane"`);
        expect(lock).toContain(`version     = "${VERSION}"`);
        expect(lock).toMatch(/"h1:[A-Za-z0-9+/=]{44}"/);
        expect(lock).toContain(`"zh:${zipSha}"`);

        const plan = await runEngine(engine, work, ["plan", "-no-color", "-input=false"]);
        expect(plan.code, plan.out).toBe(0);
        expect(plan.out).toContain("keyplane_project.registry will be created");
        const apply = await runEngine(engine, work, ["apply", "-no-color", "-input=false", "-auto-approve"]);
        expect(apply.code, apply.out).toBe(0);
        const projects = await callApi(service.url, "GET", `/v1/organizations/${orgId}/projects`, token);
        expect(projects.body.data.map((p: { name: string }) => p.name)).toContain(`registry-${engine.kind}`);
      },
      300_000,
    );

    it.skipIf(!engine.bin)(
      "init refuses a zip whose checksum does not match the signed sums",
      async () => {
        const zip = join(releases, zipName);
        copyFileSync(zip, `${zip}.orig`);
        writeFileSync(zip, Buffer.concat([readFileSync(zip), Buffer.from("tampered")]));
        try {
          const init = await runEngine(engine, workdir(engine, "tampered"), ["init", "-no-color", "-input=false"]);
          expect(init.code).not.toBe(0);
          expect(init.out).toMatch(/checksum|does not match|doesn't match/i);
        } finally {
          copyFileSync(`${zip}.orig`, zip);
        }
      },
      300_000,
    );

    it.skipIf(!engine.bin)(
      "init refuses sums signed by a key other than the one the registry names",
      async () => {
        const signature = join(releases, files.signature);
        copyFileSync(signature, `${signature}.orig`);
        const other = await generateSigningKey({ name: "someone else", rsaBits: 2048 });
        writeFileSync(signature, (await signDetached(readFileSync(join(releases, files.sums)), other.privateKey)).signature);
        try {
          const init = await runEngine(engine, workdir(engine, "bad-signature"), ["init", "-no-color", "-input=false"]);
          expect(init.code).not.toBe(0);
          expect(init.out).toMatch(/signature|signing key|unknown issuer/i);
        } finally {
          copyFileSync(`${signature}.orig`, signature);
        }
      },
      300_000,
    );
  });

  /** A fresh working directory (and HOME: no CLI configuration, no plugin cache) for one engine run. */
  function workdir(engine: Engine, name: string): string {
    const dir = join(root, `${engine.kind}-${name}`);
    mkdirSync(join(dir, "home"), { recursive: true });
    writeFileSync(
      join(dir, "main.tf"),
      `terraform {
  required_providers {
    keyplane = {
      source  = "${host}/keyplane/keyplane"
      version = "${VERSION}"
    }
  }
}

provider "keyplane" {
  endpoint = "https://${host}"
}

resource "keyplane_project" "registry" {
  name = "registry-${engine.kind}"
}
`,
    );
    return dir;
  }

  function runEngine(engine: Engine, dir: string, args: string[]): Promise<EngineRun> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: join(dir, "home"),
      SSL_CERT_FILE: caFile,
      CHECKPOINT_DISABLE: "1",
      TF_IN_AUTOMATION: "1",
      KEYPLANE_TOKEN: token,
      KEYPLANE_ORGANIZATION_ID: orgId,
    };
    return new Promise((resolve, reject) => {
      const child = spawn(engine.bin, args, { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), 280_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
  }
});

// Without the build the suite would test nothing; the global setup makes it, so its absence is a bug.
it("has a provider release to serve", () => {
  expect(existsSync(BUILD) && readdirSync(BUILD).some((name) => name.endsWith("_SHA256SUMS"))).toBe(true);
});
