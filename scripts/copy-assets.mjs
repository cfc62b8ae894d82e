// tsc copies no non-TS files; the service needs its SQL migrations and the plugin its .proto files at
// run time, and the emitted declarations import the generated contract types (a .d.ts tsc does not emit).
//
// It also writes dist/openapi.json, the contract already parsed: parsing openapi.yaml's YAML was a
// third of the service's start-up. The service uses it only when its digest is the YAML's.
//
// And dist/service/db/pglite-cluster.tar.gz: a new PostgreSQL cluster (initdb's output) made by the
// PGlite this checkout installed, which the embedded database loads into a new data directory
// instead of running initdb in WebAssembly (3–4 s of a first start; see service/db/pglite-driver.ts).
// It is made again only when the installed PGlite's version changes.
import { createHash } from "node:crypto";
import { cpSync, existsSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { parse } from "yaml";

const assets = [
  ["service/db/migrations", "dist/service/db/migrations"],
  ["cdktf-provider/src/protocol/proto", "dist/cdktf-provider/src/protocol/proto"],
  ["service/generated/openapi.d.ts", "dist/service/generated/openapi.d.ts"],
];
for (const [from, to] of assets) {
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}

const contract = readFileSync("openapi.yaml", "utf8");
const sha256 = createHash("sha256").update(contract).digest("hex");
writeFileSync("dist/openapi.json", JSON.stringify({ sha256, document: parse(contract) }));

const cluster = "dist/service/db/pglite-cluster.tar.gz";
const clusterStamp = `${cluster}.version`;
const pgliteVersion = JSON.parse(readFileSync("node_modules/@electric-sql/pglite/package.json", "utf8")).version;
if (existsSync(cluster) && existsSync(clusterStamp) && readFileSync(clusterStamp, "utf8") === pgliteVersion) {
  // Kept, but as new as the rest of this build: scripts/ensure-built.mjs compares its time too.
  const now = new Date();
  utimesSync(cluster, now, now);
} else {
  const pglite = await PGlite.create("memory://");
  // A clean shutdown point in the WAL: the copy then starts without crash recovery's work.
  await pglite.exec("CHECKPOINT");
  const tarball = await pglite.dumpDataDir("gzip");
  await pglite.close();
  // Renamed into place, then stamped: the driver uses a tarball only when its stamp names the
  // installed PGlite, so an interrupted build leaves no half-written tarball that it would load.
  rmSync(clusterStamp, { force: true });
  writeFileSync(`${cluster}.tmp`, Buffer.from(await tarball.arrayBuffer()));
  renameSync(`${cluster}.tmp`, cluster);
  writeFileSync(clusterStamp, pgliteVersion);
}
