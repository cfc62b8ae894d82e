// A real Keyplane service listening on 127.0.0.1, port 0, for whatever talks HTTP to it (OpenTofu
// engines, the provider, fuzzers, fault injection): the runtime of runtime.ts (test database,
// fresh master key, pino lines captured in memory). It runs in the test process, so engines must
// be driven asynchronously (see test/e2e/support/workdir.ts).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KeyplaneClient } from "../../cdktf-provider/src/client/keyplane-client.js";
import type { TestDbKind } from "./db.js";
import { seedOrganization, startTestRuntime, type TestRuntime } from "./runtime.js";

export interface SeededOrganization {
  id: string;
  tokens: { admin: string; member: string; resolver: string };
  /** REST clients of the same package the plugin uses, one per role. */
  admin: KeyplaneClient;
  member: KeyplaneClient;
  resolver: KeyplaneClient;
}

export interface E2eService {
  kind: TestDbKind;
  /** http://127.0.0.1:<port> */
  url: string;
  runtime: TestRuntime;
  /** Every log line the service wrote so far, joined. */
  logText(): string;
  /** A new organization with one token per role. */
  seedOrganization(): Promise<SeededOrganization>;
  /** Audit actions recorded for one target, oldest first. */
  auditActions(org: SeededOrganization, targetId: string): Promise<string[]>;
  close(): Promise<void>;
}

/** `env` overrides the configuration, as for startTestRuntime. */
export async function startService(kind: TestDbKind = "pglite", env: Record<string, string> = {}): Promise<E2eService> {
  const runtime = await startTestRuntime(kind, env);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createServer(runtime.handler).listen(0, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = (token: string) => new KeyplaneClient({ endpoint: url, token, maxAttempts: 1 });
  return {
    kind,
    url,
    runtime,
    logText: () => runtime.logs.join(""),
    async seedOrganization() {
      const { org, tokens } = await seedOrganization(runtime);
      return { id: org.id, tokens, admin: client(tokens.admin), member: client(tokens.member), resolver: client(tokens.resolver) };
    },
    async auditActions(org, targetId) {
      const res = await runtime.api
        .get(`/v1/organizations/${org.id}/audit-events`)
        .query({ target_id: targetId, limit: 200 })
        .set({ Authorization: `Bearer ${org.tokens.admin}` });
      if (res.status !== 200) throw new Error(`audit list failed: ${res.status}`);
      return (res.body.data as { action: string; seq: number }[]).sort((a, b) => a.seq - b.seq).map((e) => e.action);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.close();
    },
  };
}
