// Workload identity exchange latency at one connection: an OIDC issuer on loopback (discovery
// document and key set, RS256) and a binding of a fresh organization; the identity token is signed
// once and exchanged again and again, one request at a time, as a fleet of workers renewing their
// tokens would. Each exchange verifies the JWT against the cached key set, writes a hashed token
// and its audit event.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

const WARMUP = 30;
const SAMPLES = 500;

export interface ExchangeLatency {
  samples: number;
  exchange_p50_ms: number;
  exchange_p99_ms: number;
  failures: number;
}

/** A loopback OIDC issuer and one identity token it signed for `audience` and `subject`. */
async function startIssuer(audience: string, subject: string) {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "bench", alg: "RS256", use: "sig" };
  let url = "";
  const server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.url === "/.well-known/openid-configuration") res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks` }));
    else if (req.url === "/jwks") res.end(JSON.stringify({ keys: [jwk] }));
    else res.writeHead(404).end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = await new SignJWT({ sub: subject, aud: audience })
    .setProtectedHeader({ alg: "RS256", kid: "bench", typ: "JWT" })
    .setIssuer(url)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(privateKey);
  return { url, token, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * `createBinding(issuer)` makes the binding (as an admin of `organizationId`); the service must
 * allow loopback issuers (KEYPLANE_ALLOW_INSECURE_ISSUERS, KEYPLANE_OUTBOUND_ALLOW_PRIVATE) and
 * not rate-limit exchanges.
 */
export async function measureExchange(serviceUrl: string, organizationId: string, createBinding: (issuer: string) => Promise<void>): Promise<ExchangeLatency> {
  const issuer = await startIssuer("keyplane-bench", "bench:worker");
  try {
    await createBinding(issuer.url);
    const body = JSON.stringify({ organization_id: organizationId, identity_token: issuer.token });
    // fetch keeps the connection alive between requests: one connection, one request at a time.
    const exchange = async () => {
      const res = await fetch(`${serviceUrl}/v1/auth/token-exchange`, { method: "POST", headers: { "content-type": "application/json" }, body });
      await res.arrayBuffer();
      return res.status === 200;
    };
    for (let i = 0; i < WARMUP; i++) await exchange();
    const latencies: number[] = [];
    let failures = 0;
    for (let i = 0; i < SAMPLES; i++) {
      const started = performance.now();
      if (!(await exchange())) failures++;
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 100) / 100;
    return { samples: SAMPLES, exchange_p50_ms: at(0.5), exchange_p99_ms: at(0.99), failures };
  } finally {
    await issuer.close();
  }
}
