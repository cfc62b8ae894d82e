// The plugin's listening socket, bound before anything of gRPC is loaded: the handshake line only
// needs a port, and Node's HTTP/2 and TLS with grpc-js cost more of a start than the whole Node
// start-up itself. Connections the engine opens before the gRPC server is ready wait, accepted, and
// are handed to it as soon as it is; what they sent meanwhile (a TLS ClientHello, the HTTP/2
// preface) sits in their read buffer, which Node's TLS and HTTP/2 take over when handed a socket.
import * as net from "node:net";

export interface PluginListener {
  readonly port: number;
  /** Hands every connection to `accept` from now on, those that arrived before first; returns how many had. */
  serve(accept: (socket: net.Socket) => void): number;
  /** Stops accepting; connections already handed over are the server's to end. */
  close(): Promise<void>;
}

// A waiting connection that fails is destroyed, and skipped when handed over.
const ignore = () => {};

/** Binds 127.0.0.1 on the first free port of `ports` (0 = any). */
export async function listen(ports: number[]): Promise<PluginListener> {
  let lastError: Error | undefined;
  for (const port of ports) {
    const waiting: net.Socket[] = [];
    let accept: ((socket: net.Socket) => void) | undefined;
    const server = net.createServer((socket) => {
      if (accept) return accept(socket);
      socket.on("error", ignore);
      waiting.push(socket);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        const listening = () => {
          server.off("error", reject);
          resolve();
        };
        // net.BoundSocket (Node ≥ 24.19) binds the address as given; listen(port, host) first
        // passes it through dns.lookup, which cost a twentieth of the plugin's start to its line.
        if (typeof net.BoundSocket === "function") server.listen(new net.BoundSocket({ host: "127.0.0.1", port }), listening);
        else server.listen(port, "127.0.0.1", listening);
      });
    } catch (err) {
      lastError = err as Error;
      continue;
    }
    return {
      port: (server.address() as { port: number }).port,
      serve(handler) {
        accept = handler;
        const early = waiting.splice(0);
        for (const socket of early) {
          socket.off("error", ignore);
          if (!socket.destroyed) handler(socket);
        }
        return early.length;
      },
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of waiting.splice(0)) socket.destroy();
          server.close(() => resolve());
        }),
    };
  }
  throw new Error(`could not bind a port on 127.0.0.1 (${ports.length} tried): ${lastError?.message}`);
}
