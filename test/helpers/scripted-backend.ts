// A fake InfluxDB backend whose answers are scripted by the test, for checking
// how the relay reacts to statuses, slow answers, hangs and dropped sockets.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Reply {
  status: number;
  body?: string | Buffer;
  /** Defaults to application/json when a body is given (InfluxDB answers errors in JSON). */
  contentType?: string;
  /** Extra response headers, e.g. X-Influxdb-Error or Retry-After. */
  headers?: Record<string, string>;
  /** Answer only after this many ms. */
  delayMs?: number;
  /** Never answer; the request stays open until the client gives up or close(). */
  hang?: boolean;
  /** Destroy the socket without answering (after reading the body). */
  destroy?: boolean;
}

export interface RecordedRequest {
  method: string;
  url: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface ScriptedBackend {
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** url + '/write' */
  readonly writeUrl: string;
  /** Every request but GET /ping, in arrival order, recorded once its body was fully read. */
  readonly requests: RecordedRequest[];
  /** GET /ping requests: answered 204 (with X-Influxdb-Version: scripted) unless the reply is scripted to hang or drop. */
  readonly pings: number;
  /** Answer for the next requests, or a function choosing it per request; read when a request's body is complete. Default { status: 204 }. */
  reply: Reply | ((request: RecordedRequest) => Reply);
  /** Closes the server and destroys open sockets, including hanging ones. */
  close(): Promise<void>;
}

export async function startScriptedBackend(reply: ScriptedBackend["reply"] = { status: 204 }): Promise<ScriptedBackend> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const backend = {
    reply,
    requests,
    pings: 0,
  } as { reply: ScriptedBackend["reply"]; requests: RecordedRequest[]; pings: number };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", () => undefined); // client went away mid-body; nothing to answer
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      // The relay's health probe: answered like InfluxDB while the backend "runs", and kept out of `requests`.
      if (req.method === "GET" && url.pathname.endsWith("/ping")) {
        backend.pings++;
        const running = typeof backend.reply === "function" || !(backend.reply.destroy || backend.reply.hang);
        res.writeHead(running ? 204 : 503, { "X-Influxdb-Version": "scripted" }).end();
        return;
      }
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      requests.push(recorded);
      // Snapshot so a test changing `reply` mid-flight affects only later requests.
      const r = typeof backend.reply === "function" ? backend.reply(recorded) : { ...backend.reply };
      const answer = (): void => {
        if (r.hang) return;
        if (r.destroy) {
          req.socket.destroy();
          return;
        }
        const headers: http.OutgoingHttpHeaders = { ...r.headers };
        const contentType = r.contentType ?? (r.body !== undefined ? "application/json" : undefined);
        if (contentType !== undefined) headers["content-type"] = contentType;
        res.writeHead(r.status, headers);
        res.end(r.body);
      };
      if (r.delayMs !== undefined && r.delayMs > 0 && !r.hang) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer();
        }, r.delayMs);
        timers.add(timer);
      } else {
        answer();
      }
    });
  });

  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      server.off("error", reject);
      resolve();
    });
  });

  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  let closing: Promise<void> | undefined;

  return Object.assign(backend, {
    port,
    url,
    writeUrl: `${url}/write`,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        // server.close() alone waits for keep-alive and hanging requests.
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        sockets.clear();
      });
      return closing;
    },
  });
}
