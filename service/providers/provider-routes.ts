import type { FeatureRegistrar } from "../http/app.js";
import { PROVIDERS, publicCatalogEntry } from "./catalog.js";

export const providerRoutes: FeatureRegistrar = (ops) => {
  const body = { data: PROVIDERS.map(publicCatalogEntry), next_cursor: null };
  ops.handle("listProviders", (_req, res) => {
    res.setHeader("Cache-Control", "public, max-age=300");
    res.json(body);
  });
};
