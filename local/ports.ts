// Free loopback ports, for tests and the benchmark. Everything binds to 127.0.0.1 only.
import dgram from "node:dgram";
import net from "node:net";

const LOOPBACK = "127.0.0.1";

/**
 * A TCP port that was free on 127.0.0.1 a moment ago. There is an unavoidable
 * race between closing our probe and the real user binding it, so callers
 * that spawn other processes should be ready to retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const addr = server.address();
      if (addr === null || typeof addr === "string") {
        server.close();
        reject(new Error("freePort: unexpected server address"));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(addr.port)));
    });
  });
}

/** A UDP port that was free on 127.0.0.1 a moment ago (same race as freePort). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket("udp4");
    socket.unref();
    socket.once("error", (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: LOOPBACK, port: 0, exclusive: true }, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}
