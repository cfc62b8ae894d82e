/**
 * The admin console in a real browser: Debian's Chromium driven by playwright-core against a real
 * service on PGlite. Walks every task an admin does with a credential, checks what a member and a
 * resolver may do, saves the README's screenshots, and ends by searching everything the browser
 * showed, requested, stored or logged for the secrets typed into it.
 *
 * Without Chromium the suite is skipped with a loud line; KEYPLANE_REQUIRE_E2E=1 (CI) makes that a
 * failure (.ci/install-chromium.sh installs it).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";

const CHROMIUM = process.env.KEYPLANE_CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-partial-raster",
];
const SCREENSHOTS = join(process.cwd(), "service/console/screenshots");
const haveChromium = existsSync(CHROMIUM);

if (!haveChromium) {
  console.warn(`\n*** console suite SKIPPED: no Chromium at ${CHROMIUM} (run .ci/install-chromium.sh, or set KEYPLANE_CHROMIUM) ***\n`);
  if (process.env.KEYPLANE_REQUIRE_E2E === "1") {
    it("has Chromium when KEYPLANE_REQUIRE_E2E=1", () => {
      expect.fail(`KEYPLANE_REQUIRE_E2E=1 but there is no Chromium at ${CHROMIUM}`);
    });
  }
}

/** A provider key shaped like the real thing, random enough for the leak search to find. */
const fakeKey = (prefix: string) => `${prefix}${randomBytes(30).toString("base64url")}`;
/**
 * The keys typed in the steps the README's screenshots show: fixed, so their hints (and the
 * screenshots) stay the same from run to run; plainly fake, yet with a 12-character run distinct
 * enough for the leak searches to look for them.
 */
const SCREENSHOT_KEYS = { added: "sk-proj-FAKE-console-screenshot-Xq7Vb2Nm9Lw4", rotated: "sk-proj-FAKE-console-screenshot-Rt5Hc8Jp3Dk6" };

describe.skipIf(!haveChromium)("admin console in Chromium", () => {
  let service: E2eService;
  let org: SeededOrganization;
  let userDataDir: string;
  let context: BrowserContext;
  let page: Page;
  let memberToken = "";
  const credentialName = "prod-main";
  const typedSecrets: string[] = [];
  // Everything the browser showed, requested, kept or logged, searched at the end.
  const seen = { html: [] as string[], urls: [] as string[], storage: [] as string[], console: [] as string[] };

  const heading = (name: string | RegExp) => page.getByRole("heading", { level: 1, name });
  /** A link of the top navigation (a page's breadcrumbs may name the same section). */
  const section = (name: string) => page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name, exact: true });
  const button = (name: string | RegExp) => page.getByRole("button", { name, exact: typeof name === "string" });
  /** Types a provider secret the way a person does, and remembers it for the final search. */
  async function typeSecret(field: Locator, secret: string) {
    typedSecrets.push(secret);
    await field.fill(secret);
  }
  async function record() {
    seen.html.push(await page.content());
    seen.urls.push(page.url());
    seen.storage.push(await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })));
  }
  async function signIn(token: string) {
    await page.goto(`${service.url}/console/`);
    const field = page.getByLabel("API token", { exact: true });
    await field.fill(token);
    await field.press("Enter");
  }
  async function signOut() {
    await button("Sign out").click();
    await heading("Sign in to Keyplane").waitFor();
  }

  beforeAll(async () => {
    service = await startService("pglite");
    org = await service.seedOrganization();
    userDataDir = mkdtempSync(join(tmpdir(), "kp-chromium-"));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 800 },
    });
    context.setDefaultTimeout(15_000);
    context.on("request", (request) => seen.urls.push(request.url()));
    context.on("console", (message) => seen.console.push(message.text()));
    context.on("weberror", (error) => seen.console.push(String(error.error())));
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => seen.console.push(String(error)));
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await context?.close();
    await service?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it("serves the built console under a strict policy, and / leads there", async () => {
    const root = await fetch(`${service.url}/`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/console/");
    const index = await fetch(`${service.url}/console/credentials/deep/link`);
    expect(index.status).toBe(200);
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const csp = index.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    const html = await index.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style="/);
    const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const script = await fetch(service.url + asset);
    expect(script.status).toBe(200);
    expect(script.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect((await fetch(`${service.url}/console/assets/missing.js`)).status).toBe(404);
  });

  it("refuses a resolver token and a wrong one, then signs an admin in (keyboard only)", async () => {
    const started = Date.now();
    await page.goto(`${service.url}/`);
    await heading("Sign in to Keyplane").waitFor();
    const firstRender = Date.now() - started;
    const paint = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1);
    console.log(`console: first render ${firstRender} ms after navigation (first contentful paint at ${Math.round(paint)} ms)`);
    expect(page.url()).toBe(`${service.url}/console/`);

    await signIn(org.tokens.resolver);
    await page.getByText("This is a resolver token").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    await signIn(`kp_${randomBytes(32).toString("base64url")}`);
    await page.getByText("This token is not valid").waitFor();

    await signIn(org.tokens.admin);
    await heading("Credentials").waitFor();
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual(["keyplane.token"]);
    await record();
  });

  it("adds an OpenAI credential through the form and shows its hint in the list", async () => {
    await page.getByRole("link", { name: "Add credential" }).click();
    await heading("Add credential").waitFor();
    expect(await page.getByLabel("Provider", { exact: true }).inputValue()).toBe("openai");
    await page.getByText("Expected prefix: sk-").waitFor();
    expect(await page.getByLabel("API base", { exact: true }).inputValue()).toBe("https://api.openai.com/v1");
    await page.getByLabel("Name", { exact: true }).fill(credentialName);
    const key = SCREENSHOT_KEYS.added;
    await typeSecret(page.getByLabel("API key", { exact: true }), key);
    await page.getByLabel("Owner", { exact: true }).fill("platform-team@example.com");
    await page.getByLabel("Setting: openai_organization", { exact: true }).fill("org-example");
    await page.screenshot({ path: join(SCREENSHOTS, "add-credential.png"), fullPage: true });
    await record();
    await button("Add credential").click();

    await heading("Credentials").waitFor();
    const row = page.getByRole("row").filter({ hasText: credentialName });
    await row.getByText(`…${key.slice(-4)}`).waitFor();
    expect(await row.textContent()).toContain("Active");
    await page.screenshot({ path: join(SCREENSHOTS, "credentials.png") });
    await record();
  });

  it("asks for each secret field of a multi-field provider, in password fields", async () => {
    await page.getByRole("link", { name: "Add credential" }).click();
    await page.getByLabel("Provider", { exact: true }).selectOption("bedrock");
    for (const label of ["Access key id", "Secret access key", "Session token (optional)"]) {
      expect(await page.getByLabel(label, { exact: true }).getAttribute("type"), label).toBe("password");
    }
    expect(await page.getByLabel("API key", { exact: true }).count()).toBe(0);
    await page.getByLabel("Setting: region", { exact: true }).waitFor();
    await page.getByLabel("Provider", { exact: true }).selectOption("vertex");
    expect(await page.getByLabel("Service account json", { exact: true }).getAttribute("type")).toBe("password");
    await page.getByRole("link", { name: "Cancel" }).click();
    await heading("Credentials").waitFor();
  });

  it("shows the 422 for a key in the wrong format at the API key field", async () => {
    await page.getByRole("link", { name: "Add credential" }).click();
    await page.getByLabel("Provider", { exact: true }).selectOption("anthropic");
    await page.getByText("Expected prefix: sk-ant-").waitFor();
    await page.getByLabel("Name", { exact: true }).fill("claude-main");
    const field = page.getByLabel("API key", { exact: true });
    await typeSecret(field, fakeKey("sk-"));
    await button("Add credential").click();

    const message = page.locator(".field.invalid .field-error");
    await message.waitFor();
    expect(await message.textContent()).toContain('"sk-ant-"');
    expect(await field.getAttribute("aria-invalid")).toBe("true");
    // The banner names the path; the key itself was sent once and is gone from the form.
    await page.getByRole("alert").getByText("body.api_key").waitFor();
    expect(await field.inputValue()).toBe("");
    await record();
  });

  it("edits with If-Match and offers a reload after a concurrent change", async () => {
    await page.getByRole("link", { name: "Credentials", exact: true }).click();
    await page.getByRole("link", { name: credentialName }).click();
    await heading(credentialName).waitFor();
    await button("Edit").click();
    // Someone else changes the credential meanwhile.
    const list = await service.runtime.api.get(`/v1/organizations/${org.id}/credentials`).set({ Authorization: `Bearer ${org.tokens.admin}` });
    const id = (list.body.data as { id: string; name: string }[]).find((c) => c.name === credentialName)!.id;
    const patched = await service.runtime.api
      .patch(`/v1/organizations/${org.id}/credentials/${id}`)
      .set({ Authorization: `Bearer ${org.tokens.admin}` })
      .send({ description: "changed elsewhere" });
    expect(patched.status).toBe(200);

    await page.getByLabel("Owner", { exact: true }).fill("ml-team@example.com");
    await button("Save changes").click();
    await page.getByText("Someone changed this credential after you loaded it").waitFor();
    await button("Reload credential").click();
    await page.locator("dd").getByText("changed elsewhere").waitFor();
    // The form stays open, now with the current version's values.
    await page.getByLabel("Owner", { exact: true }).fill("ml-team@example.com");
    await button("Save changes").click();
    await page.locator("dd").getByText("ml-team@example.com").waitFor();
    await record();
  });

  it("rotates with grace and shows the old and new hints", async () => {
    const oldHint = (await page.locator("dd code.hint-text").first().textContent()) ?? "";
    await button("Rotate").click();
    const dialog = page.getByRole("dialog", { name: `Rotate ${credentialName}` });
    await dialog.waitFor();
    const key = SCREENSHOT_KEYS.rotated;
    await typeSecret(dialog.getByLabel("API key", { exact: true }), key);
    await dialog.getByLabel("Grace period for the old key", { exact: true }).selectOption({ label: "1 hour" });
    // The dialog alone: the page behind it shows times, which differ from run to run.
    await dialog.screenshot({ path: join(SCREENSHOTS, "rotate-dialog.png") });
    await record();
    await dialog.getByRole("button", { name: "Rotate key" }).click();

    const outcome = dialog.getByRole("status");
    await outcome.waitFor();
    const text = (await outcome.textContent()) ?? "";
    expect(text).toContain(oldHint);
    expect(text).toContain(`…${key.slice(-4)}`);
    expect(text.indexOf(oldHint)).toBeLessThan(text.indexOf(`…${key.slice(-4)}`));
    await dialog.getByText('stays resolvable as "previous" for 1 hour').waitFor();
    await record();
    await dialog.getByRole("button", { name: "Close" }).click();
    const versions = page.getByRole("region", { name: "Key versions" });
    await versions.getByRole("row").filter({ hasText: "grace" }).getByText(oldHint).waitFor();
    await versions
      .getByRole("row")
      .filter({ hasText: "current" })
      .getByText(`…${key.slice(-4)}`)
      .waitFor();
  });

  it("adds a model alias pinned to the credential, with a fallback and parameters, and shows the 422 at its field", async () => {
    // The alias it falls back to exists already (added through the API).
    const backup = await service.runtime.api
      .post(`/v1/organizations/${org.id}/model-aliases`)
      .set({ Authorization: `Bearer ${org.tokens.admin}` })
      .send({ name: "chat-backup", provider: "anthropic", model: "claude-sonnet-4-5" });
    expect(backup.status).toBe(201);

    await section("Model aliases").click();
    await heading("Model aliases").waitFor();
    await page.getByRole("link", { name: "Add model alias" }).click();
    await heading("Add model alias").waitFor();
    await page.getByLabel("Name", { exact: true }).fill("Chat Default");
    await page.getByLabel("Provider", { exact: true }).selectOption("openai");
    await page.getByLabel("Model", { exact: true }).fill("gpt-5");
    const pin = page.getByLabel("Pinned credential", { exact: true });
    await pin.selectOption((await pin.locator("option", { hasText: credentialName }).getAttribute("value")) ?? "");
    await button("Add fallback").click();
    expect(await page.getByLabel("Fallback 1", { exact: true }).inputValue()).toBe("chat-backup");
    await page.getByLabel("Parameters (JSON object)", { exact: true }).fill('{"temperature": 0.2, "max_tokens": 2048}');
    await button("Add model alias").click();

    // The service's 422 sits at the Name field, and the banner names its path.
    const nameError = page.locator(".field.invalid .field-error");
    await nameError.waitFor();
    expect(await page.getByLabel("Name", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    await page.getByRole("alert").getByText("body.name").waitFor();
    await record();

    await page.getByLabel("Name", { exact: true }).fill("chat-default");
    await button("Add model alias").click();
    await heading("chat-default").waitFor();
    await page.locator("dd").getByRole("link", { name: credentialName }).waitFor();
    await page.locator("dd").getByText("1. chat-backup").waitFor();
    await page.locator("dd").getByText("temperature = 0.2").waitFor();

    await section("Model aliases").click();
    const row = page.getByRole("row").filter({ hasText: "chat-default" });
    await row.getByRole("link", { name: credentialName }).waitFor();
    expect(await row.textContent()).toContain("chat-backup");
    expect(await row.textContent()).toContain("gpt-5");
    await page.getByRole("row").filter({ hasText: "chat-backup" }).first().waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, "model-aliases.png") });
    await record();
  });

  it("edits a model alias with If-Match and offers a reload after a concurrent change", async () => {
    await page.getByRole("link", { name: "chat-default" }).click();
    await heading("chat-default").waitFor();
    await button("Edit").click();
    // The pin is chosen in the edit form once the credentials have arrived.
    await expect.poll(() => page.getByLabel("Pinned credential", { exact: true }).locator("option:checked").textContent()).toContain(credentialName);
    const { body } = await service.runtime.api
      .get(`/v1/organizations/${org.id}/model-aliases`)
      .query({ name: "chat-default" })
      .set({ Authorization: `Bearer ${org.tokens.admin}` });
    const patched = await service.runtime.api
      .patch(`/v1/organizations/${org.id}/model-aliases/${body.data[0].id}`)
      .set({ Authorization: `Bearer ${org.tokens.admin}` })
      .send({ description: "changed elsewhere" });
    expect(patched.status).toBe(200);

    await page.getByLabel("Model", { exact: true }).fill("gpt-5-mini");
    await page.getByRole("region", { name: "Edit model alias" }).screenshot({ path: join(SCREENSHOTS, "model-alias-edit.png") });
    await button("Save changes").click();
    await page.getByText("Someone changed this model alias after you loaded it").waitFor();
    await button("Reload model alias").click();
    await page.locator("dd").getByText("changed elsewhere").waitFor();
    await page.getByLabel("Model", { exact: true }).fill("gpt-5-mini");
    await button("Save changes").click();
    await page.locator("dd").getByText("gpt-5-mini").waitFor();
    // The pin survived the edit.
    await page.locator("dd").getByRole("link", { name: credentialName }).waitFor();
    await record();
  });

  it("lists a project's aliases from its row, and adds one there that falls back to the organization's", async () => {
    const project = await service.runtime.api
      .post(`/v1/organizations/${org.id}/projects`)
      .set({ Authorization: `Bearer ${org.tokens.admin}` })
      .send({ name: "support-bot", inherit_organization_credentials: true });
    expect(project.status).toBe(201);
    await section("Projects").click();
    await page.getByRole("link", { name: "Model aliases of support-bot" }).click();
    await heading("Model aliases").waitFor();
    await page.getByText("No model aliases match.").waitFor();
    expect(await page.getByLabel("Scope", { exact: true }).inputValue()).toBe(project.body.id);

    await page.getByRole("link", { name: "Add model alias" }).click();
    await heading("Add model alias").waitFor();
    // The project picker's options load after the form: the project is selected once they are there.
    await expect.poll(() => page.getByLabel("Project", { exact: true }).inputValue()).toBe(project.body.id);
    await page.getByLabel("Name", { exact: true }).fill("support-chat");
    await page.getByLabel("Model", { exact: true }).fill("gpt-5-mini");
    // The project inherits, so the organization's aliases are there to fall back to, in the order picked.
    await button("Add fallback").click();
    await button("Add fallback").click();
    expect(await page.getByLabel("Fallback 2", { exact: true }).inputValue()).toBe("chat-default");
    expect(await button("Add fallback").isDisabled()).toBe(true);
    await button("Move chat-default up").click();
    expect(await page.getByLabel("Fallback 1", { exact: true }).inputValue()).toBe("chat-default");
    await button("Add model alias").click();
    await heading("support-chat").waitFor();
    await page.locator("dd").getByText("support-bot").waitFor();
    await page.locator("dd").getByText("1. chat-default").waitFor();
    await page.locator("dd").getByText("2. chat-backup").waitFor();
  });

  it("shows when and by whom the credential was last used, in the list and the detail", async () => {
    const resolved = await service.runtime.api
      .post(`/v1/organizations/${org.id}/resolve`)
      .set({ Authorization: `Bearer ${org.tokens.resolver}` })
      .send({ alias: "chat-default" });
    expect(resolved.status).toBe(200);
    await page.getByRole("link", { name: "Credentials", exact: true }).click();
    const row = page.getByRole("row").filter({ hasText: credentialName });
    await row.getByText("by resolver token").waitFor();
    expect(await row.locator("time").textContent()).toBe("just now");
    await row.getByRole("link", { name: credentialName }).click();
    const usage = page.getByRole("region", { name: "Usage" });
    await usage.getByText("by resolver token").waitFor();
    expect(await usage.locator("dt:has-text('Resolves in 30 days') + dd").textContent()).toBe("1");
    await usage.getByRole("link", { name: "chat-default" }).waitFor();
  });

  it("warns that the credential is in use before deactivating it, then deactivates it on request", async () => {
    await button("Deactivate").click();
    const warning = page.getByRole("alert").filter({ hasText: "in use" });
    await warning
      .getByText(/^Pinned by model alias/)
      .getByRole("link", { name: "chat-default" })
      .waitFor();
    // Who resolved it: the token's name, so the admin knows whom to ask before forcing.
    await warning
      .getByText(/^Last resolved/)
      .getByText("by resolver token")
      .waitFor();
    await page.locator(".page-head").getByText("Active").waitFor();
    await record();
    await button("Deactivate anyway").click();
    await button("Activate").waitFor();
    await page.locator(".page-head").getByText("Inactive").waitFor();
    expect(await page.getByRole("alert").count()).toBe(0);
    await page.getByRole("region", { name: "Usage" }).locator("dt:has-text('Denied since deactivation') + dd").getByText("0").waitFor();
  });

  it("warns that the credential is in use before deleting it; the forced delete still takes the typed name", async () => {
    await button("Delete").click();
    const dialog = page.getByRole("dialog", { name: `Delete ${credentialName}` });
    const confirm = dialog.getByRole("button", { name: "Delete credential" });
    const field = dialog.getByLabel(`Type the credential's name (${credentialName}) to confirm`, { exact: true });
    expect(await confirm.isDisabled()).toBe(true);
    await field.fill(credentialName);
    await confirm.click();
    const warning = dialog.getByRole("alert");
    await warning
      .getByText(/^Pinned by model alias/)
      .getByRole("link", { name: "chat-default" })
      .waitFor();
    await warning
      .getByText(/^Last resolved/)
      .getByText("by resolver token")
      .waitFor();
    const force = warning.getByRole("button", { name: "Delete anyway" });
    await field.fill("prod");
    expect(await force.isDisabled()).toBe(true);
    await field.fill(credentialName);
    await record();
    await force.click();
    await heading("Credentials").waitFor();
    await page.getByText("No credentials match.").waitFor();
    // The alias outlives its pin and now resolves by provider.
    await section("Model aliases").click();
    await page
      .getByRole("row")
      .filter({ has: page.getByRole("link", { name: "chat-default", exact: true }) })
      .getByText("none")
      .waitFor();
  });

  it("creates a token and shows it only once", async () => {
    await page.getByRole("link", { name: "Tokens" }).click();
    await heading("Tokens").waitFor();
    const form = page.getByRole("region", { name: "Create token" });
    await form.getByLabel("Name", { exact: true }).fill("console member");
    await form.getByLabel("Role", { exact: true }).selectOption("member");
    await form.getByRole("button", { name: "Create token" }).click();
    const shown = page.getByTestId("new-token");
    memberToken = ((await shown.textContent()) ?? "").trim();
    expect(memberToken).toMatch(/^kp_[A-Za-z0-9_-]{43,}$/);
    await button("Copy token").waitFor();
    await button("Done").click();
    await page.getByRole("row").filter({ hasText: "console member" }).waitFor();
    expect(await page.content()).not.toContain(memberToken);
    await page.reload();
    await heading("Tokens").waitFor();
    expect(await page.content()).not.toContain(memberToken);
  });

  it("shows a member read-only views", async () => {
    const created = await service.runtime.api
      .post(`/v1/organizations/${org.id}/credentials`)
      .set({ Authorization: `Bearer ${org.tokens.admin}` })
      .send({ provider: "openai", name: "read-me", api_key: fakeKey("sk-proj-") });
    expect(created.status).toBe(201);
    await signOut();
    await signIn(memberToken);
    await heading("Credentials").waitFor();
    await page.getByRole("link", { name: "read-me" }).waitFor();
    expect(await page.getByRole("link", { name: "Add credential" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "Tokens" }).count()).toBe(0);
    await page.getByRole("link", { name: "read-me" }).click();
    await heading("read-me").waitFor();
    await page.getByRole("region", { name: "Key versions" }).getByRole("row").nth(1).waitFor();
    for (const name of ["Edit", "Rotate", "Verify", "Deactivate", "Delete"]) expect(await button(name).count()).toBe(0);
    await section("Model aliases").click();
    await heading("Model aliases").waitFor();
    await page.getByRole("link", { name: "chat-default" }).waitFor();
    expect(await page.getByRole("link", { name: "Add model alias" }).count()).toBe(0);
    await page.getByRole("link", { name: "chat-default" }).click();
    await heading("chat-default").waitFor();
    for (const name of ["Edit", "Delete"]) expect(await button(name).count()).toBe(0);
    await page.goto(`${service.url}/console/orgs/${org.id}/model-aliases/new`);
    await heading("Not found").waitFor();
    await page.getByRole("link", { name: "Projects" }).click();
    await heading("Projects").waitFor();
    expect(await button("Create project").count()).toBe(0);
    await record();
    await signOut();
  });

  it("revokes a token", async () => {
    await signIn(org.tokens.admin);
    await heading("Credentials").waitFor();
    await page.getByRole("link", { name: "Tokens" }).click();
    await button("Revoke console member").click();
    await button("Confirm revoke console member").click();
    await page.getByRole("row").filter({ hasText: "console member" }).waitFor({ state: "detached" });
    const whoami = await fetch(`${service.url}/v1/whoami`, { headers: { Authorization: `Bearer ${memberToken}` } });
    expect(whoami.status).toBe(401);
  });

  it("verifies the audit chain", async () => {
    await page.getByRole("link", { name: "Audit log" }).click();
    await heading("Audit log").waitFor();
    await page.getByRole("cell", { name: "credential.rotate" }).first().waitFor();
    await button("Verify chain").click();
    const status = page.getByRole("status");
    await status.getByText("Chain verified").waitFor();
    expect(await status.textContent()).toMatch(/Chain verified: \d+ events checked/);
    await record();
  });

  it("lets a platform admin pick an organization", async () => {
    const { body } = await service.runtime.api.get(`/v1/organizations/${org.id}`).set({ Authorization: `Bearer ${service.runtime.platformToken}` });
    await signOut();
    await signIn(service.runtime.platformToken);
    await heading("Organizations").waitFor();
    expect(page.url()).toBe(`${service.url}/console/orgs`);
    await page.getByRole("link", { name: body.name }).click();
    await heading("Credentials").waitFor();
    expect(page.url()).toBe(`${service.url}/console/orgs/${org.id}/credentials`);
    await page.getByRole("link", { name: "read-me" }).waitFor();
    await page.getByRole("link", { name: "Organizations" }).waitFor();
  });

  it("fits a narrow window", async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    for (const name of ["Credentials", "Model aliases", "Audit log"]) {
      await section(name).click();
      await heading(name).waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, name).toBeLessThanOrEqual(0);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it("pins a credential from beyond the list's first page, found by typing its name", async () => {
    // Another organization, with more credentials than the list's largest page (200) holds.
    const big = await service.seedOrganization();
    const admin = { Authorization: `Bearer ${big.tokens.admin}` };
    const names = Array.from({ length: 230 }, (_, i) => `bulk-${String(i + 1).padStart(3, "0")}`);
    for (let i = 0; i < names.length; i += 25) {
      const created = await Promise.all(
        names.slice(i, i + 25).map((name) =>
          service.runtime.api
            .post(`/v1/organizations/${big.id}/credentials`)
            .set(admin)
            .send({ provider: "openai", name, api_key: fakeKey("sk-proj-") }),
        ),
      );
      expect(created.map((r) => r.status)).toEqual(created.map(() => 201));
    }
    // The one to pick is on the second page.
    const firstPage = await service.runtime.api.get(`/v1/organizations/${big.id}/credentials`).query({ limit: 200 }).set(admin);
    expect(firstPage.body.next_cursor).toEqual(expect.any(String));
    const onFirstPage = new Set((firstPage.body.data as { name: string }[]).map((c) => c.name));
    const target = names.find((name) => !onFirstPage.has(name)) ?? "";
    expect(target).not.toBe("");

    await signOut();
    await signIn(big.tokens.admin);
    await heading("Credentials").waitFor();
    await section("Model aliases").click();
    await page.getByRole("link", { name: "Add model alias" }).click();
    await heading("Add model alias").waitFor();
    await page.getByLabel("Name", { exact: true }).fill("pinned-old");
    await page.getByLabel("Model", { exact: true }).fill("gpt-5");
    const search = page.getByLabel("Search credentials", { exact: true });
    await expect.poll(() => search.getAttribute("placeholder")).toBe("Type to search 230 credentials");
    await search.fill(target);
    const pin = page.getByLabel("Pinned credential", { exact: true });
    // "None" and the one match.
    await expect.poll(() => pin.locator("option").count()).toBe(2);
    await pin.selectOption((await pin.locator("option", { hasText: target }).getAttribute("value")) ?? "");
    await button("Add model alias").click();
    await heading("pinned-old").waitFor();
    await page.locator("dd").getByRole("link", { name: target }).waitFor();

    // The list names the pin, the edit form has it chosen, and the credential knows its alias.
    await section("Model aliases").click();
    await page.getByRole("row").filter({ hasText: "pinned-old" }).getByRole("link", { name: target }).waitFor();
    await page.getByRole("link", { name: "pinned-old" }).click();
    await button("Edit").click();
    await expect.poll(() => page.getByLabel("Pinned credential", { exact: true }).locator("option:checked").textContent()).toContain(target);
    await page.locator("dd").getByRole("link", { name: target }).click();
    await heading(target).waitFor();
    await page.getByRole("region", { name: "Usage" }).getByRole("link", { name: "pinned-old" }).waitFor();
    await record();
  });

  it("leaves no typed secret in any page, URL, storage or console line", async () => {
    await record();
    expect(typedSecrets.length).toBeGreaterThanOrEqual(3);
    expect(seen.html.length).toBeGreaterThan(5);
    const places = { html: seen.html, urls: seen.urls, storage: seen.storage, console: seen.console };
    for (const secret of typedSecrets) {
      for (const [where, texts] of Object.entries(places)) {
        const hit = texts.find((text) => text.includes(secret));
        expect(hit, `a typed secret appears in ${where}`).toBeUndefined();
      }
    }
    // The page ran under its Content-Security-Policy without tripping it.
    expect(seen.console.filter((line) => /Content Security Policy|Refused to/i.test(line))).toEqual([]);
    // The only thing the console keeps is the Keyplane token, in this tab's session.
    for (const storage of seen.storage) {
      const { local, session } = JSON.parse(storage) as { local: object; session: object };
      expect(Object.keys(local)).toEqual([]);
      expect(Object.keys(session).filter((k) => k !== "keyplane.token")).toEqual([]);
    }
  });
});
