// The provider registry protocol (service discovery, versions, download document, release files),
// unauthenticated as every registry's is: `tofu init` / `terraform init` with
// `source = "<this host>/keyplane/keyplane"` install the provider from here and verify it.
import type { Request } from "express";
import { NotFoundError } from "../errors.js";
import type { FeatureRegistrar } from "../http/app.js";
import { ProviderRegistry } from "./registry-service.js";

export const PROVIDERS_V1 = "/v1/terraform/providers/";

function param(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === "string" ? value : "";
}

export const providerRegistryRoutes: FeatureRegistrar = (ops, { config, log }) => {
  const registry = new ProviderRegistry(config.providerDir, {
    onSkip: ({ version, file, reason }) => log.warn({ provider_version: version, file }, `provider release skipped: ${reason}`),
  });

  ops.handle("getTerraformServiceDiscovery", (_req, res) => {
    res.json({ "providers.v1": PROVIDERS_V1 });
  });

  ops.handle("listTerraformProviderVersions", async (req, res) => {
    res.json({ versions: await registry.versions(param(req, "namespace"), param(req, "type")) });
  });

  ops.handle("getTerraformProviderDownload", async (req, res) => {
    const [namespace, type, version] = [param(req, "namespace"), param(req, "type"), param(req, "version")];
    const download = await registry.download(namespace, type, version, param(req, "os"), param(req, "arch"));
    // Host-relative URLs: the engines resolve them against this document's URL, so the answer
    // holds whatever host, port and proxy the engine came through.
    const files = `${PROVIDERS_V1}${namespace}/${type}/${version}/files/`;
    res.json({
      protocols: download.protocols,
      os: download.os,
      arch: download.arch,
      filename: download.filename,
      download_url: files + download.filename,
      shasums_url: files + download.shasumsFile,
      shasums_signature_url: files + download.signatureFile,
      shasum: download.shasum,
      signing_keys: { gpg_public_keys: [{ key_id: download.signingKey.keyId, ascii_armor: download.signingKey.asciiArmor }] },
    });
  });

  ops.handle("getTerraformProviderFile", async (req, res) => {
    const path = await registry.filePath(param(req, "namespace"), param(req, "type"), param(req, "version"), param(req, "filename"));
    await new Promise<void>((resolve, reject) => {
      res.sendFile(path, { headers: { "Cache-Control": "no-cache" } }, (error: NodeJS.ErrnoException | undefined) => {
        if (!error) resolve();
        // Removed between the listing and the read (a publish replacing it).
        else reject(error.code === "ENOENT" ? new NotFoundError("release file") : error);
      });
    });
  });
};
