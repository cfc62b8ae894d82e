// Entry point of the plugin executable (bin/terraform-provider-keyplane): the go-plugin handshake
// and gRPC server, serving the Keyplane provider. The provider module is loaded only after the
// launch checks out, so a mistaken direct run fails fast.
import { runPlugin } from "./protocol/handshake.js";

runPlugin(async () => (await import("./provider.js")).provider).catch((err: unknown) => {
  process.stderr.write(`keyplane provider failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
