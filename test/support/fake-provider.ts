/**
 * A fake provider for verify to call: an HTTP server on 127.0.0.1 (a free port), listening before
 * the suite's tests and closed after them, open connections included.
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";

export interface FakeProvider {
  server: Server;
  port: number;
  /** http://127.0.0.1:<port> */
  base: string;
}

/** The returned object is filled in by beforeAll: read it inside hooks and tests only. */
export function useFakeProvider(handler: RequestListener): FakeProvider {
  const provider = { server: createServer(handler) } as FakeProvider;
  beforeAll(async () => {
    await new Promise<void>((r) => provider.server.listen(0, "127.0.0.1", r));
    provider.port = (provider.server.address() as AddressInfo).port;
    provider.base = `http://127.0.0.1:${provider.port}`;
  });
  afterAll(async () => {
    provider.server.closeAllConnections();
    await new Promise((r) => provider.server.close(r));
  });
  return provider;
}
