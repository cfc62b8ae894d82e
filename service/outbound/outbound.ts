// The one way the service makes a request to a URL an organization chose (today: verify's call to
// a provider). It connects only to addresses the policy allows — checked on the addresses the
// socket is actually given, so a name that resolves to a public address when stored and to
// 169.254.169.254 when called (DNS rebinding) is still refused — speaks only http(s), never
// follows a redirect (node:http does not), and gives up after a time limit and a size limit.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { refusedCategory } from "./address-policy.js";

/** Resolves a host name to every address it has (the system resolver by default; tests inject one). */
export type ResolveHost = (hostname: string) => Promise<LookupAddress[]>;

export interface OutboundPolicy {
  /** KEYPLANE_OUTBOUND_ALLOW_PRIVATE=1: loopback and private ranges may be reached. */
  allowPrivate: boolean;
  resolve?: ResolveHost;
}

/** The destination is not allowed; nothing was sent. The message names the host, never a header. */
export class OutboundRefused extends Error {
  override readonly name = "OutboundRefused";
  constructor(
    readonly host: string,
    readonly reason: string,
  ) {
    super(`Refused to connect to ${host}: it ${reason}.`);
  }
}

/** No complete answer within the time limit. */
export class OutboundTimeout extends Error {
  override readonly name = "TimeoutError";
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

export interface OutboundResponse {
  status: number;
  /** The body as text; null when it is larger than `maxBodyBytes` (the rest is not read). */
  body: string | null;
}

export interface OutboundGet {
  headers: Record<string, string>;
  timeoutMs: number;
  maxBodyBytes: number;
}

const systemResolve: ResolveHost = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for node:net that resolves the name and refuses it when any of its addresses is
 * refused by the policy; the socket connects only to the addresses this returns.
 */
export function guardedLookup(policy: OutboundPolicy) {
  const resolve = policy.resolve ?? systemResolve;
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname).then(
      (addresses) => {
        for (const { address } of addresses) {
          const category = refusedCategory(address, policy.allowPrivate);
          if (category) return callback(new OutboundRefused(hostname, `resolves to a ${category} address`), "");
        }
        const usable = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        if (usable.length === 0) {
          return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), "");
        }
        if (options.all) callback(null, usable);
        else callback(null, usable[0].address, usable[0].family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ""),
    );
  };
}

/** Why `url` may not be requested at all, before any name is resolved; null when it may. */
export function urlRefusal(url: URL, policy: OutboundPolicy): OutboundRefused | null {
  if (url.protocol !== "http:" && url.protocol !== "https:") return new OutboundRefused(url.host, "uses a scheme other than http or https");
  if (url.username || url.password) return new OutboundRefused(url.host, "carries user info (user:password@)");
  // node:net connects to an IP literal without a lookup, so literals are checked here.
  const literal = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(literal)) {
    const category = refusedCategory(literal, policy.allowPrivate);
    if (category) return new OutboundRefused(url.host, `is a ${category} address`);
  }
  return null;
}

export class Outbound {
  private readonly lookup: ReturnType<typeof guardedLookup>;

  constructor(private readonly policy: OutboundPolicy) {
    this.lookup = guardedLookup(policy);
  }

  /** GET `url`. Rejects with OutboundRefused (nothing sent), OutboundTimeout or a network error. */
  get(url: URL, options: OutboundGet): Promise<OutboundResponse> {
    const refusal = urlRefusal(url, this.policy);
    if (refusal) return Promise.reject(refusal);
    const transport = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      let request: http.ClientRequest | undefined;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        finish();
      };
      const timer = setTimeout(() => {
        const timeout = new OutboundTimeout(options.timeoutMs);
        settle(() => reject(timeout));
        request?.destroy(timeout);
      }, options.timeoutMs);
      const onResponse = (response: http.IncomingMessage) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let total = 0;
        response.on("data", (chunk: Buffer) => {
          total += chunk.byteLength;
          if (total > options.maxBodyBytes) {
            response.destroy();
            settle(() => resolve({ status, body: null }));
          } else {
            chunks.push(chunk);
          }
        });
        response.on("end", () => settle(() => resolve({ status, body: Buffer.concat(chunks).toString("utf8") })));
        response.on("error", (error) => settle(() => reject(error)));
        response.on("close", () => settle(() => reject(Object.assign(new Error("connection closed mid-answer"), { code: "ECONNRESET" }))));
      };
      try {
        // agent: false — a fresh connection per call, so no pooled socket skips the lookup check.
        request = transport.request(url, { method: "GET", headers: options.headers, agent: false, lookup: this.lookup }, onResponse);
      } catch (error) {
        // e.g. a header value node:http refuses; its message names the header, not the value.
        return settle(() => reject(error));
      }
      request.on("error", (error) => settle(() => reject(error)));
      request.end();
    });
  }
}
