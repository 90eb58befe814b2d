// A [[udp]] listener: each datagram's lines are validated and timestamped, then sent to every output's
// UDP location packed into datagrams of at most `mtu` bytes, never splitting a line.
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { UdpListenerConfig, UdpOutputConfig } from "./config.js";
import { formatFault, forEachPoint } from "./lineprotocol.js";
import type { Logger } from "./logger.js";
import { nowNs, timestampDigits } from "./precision.js";
import { ThrottledLog } from "./throttled-log.js";

export interface UdpCounters {
  datagrams: number;
  points: number;
  invalidLines: number;
  /** Lines longer than an output's mtu, sent alone in a datagram of their own. */
  oversizeLines: number;
  sendErrors: number;
}

const NEWLINE = Buffer.from("\n");

export class UdpListener {
  readonly counters: UdpCounters = { datagrams: 0, points: 0, invalidLines: 0, oversizeLines: 0, sendErrors: 0 };
  private readonly socket: Socket;
  private readonly outputs: { config: UdpOutputConfig; socket: Socket }[];
  private readonly warnings: ThrottledLog;
  private readonly log: Logger;

  constructor(
    private readonly config: UdpListenerConfig,
    logger: Logger,
  ) {
    this.log = logger.child({ listener: config.name });
    this.warnings = new ThrottledLog(this.log);
    this.socket = createSocket(isIPv6(config.bindAddr.host) ? "udp6" : "udp4");
    this.socket.on("message", (message) => this.relay(message));
    this.outputs = config.outputs.map((output) => ({ config: output, socket: this.outputSocket(output) }));
  }

  /** Binds the listening socket; resolves with the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.socket.once("error", reject);
      this.socket.bind(this.config.bindAddr.port, this.config.bindAddr.host || undefined, () => {
        this.socket.off("error", reject);
        this.socket.on("error", (err) => this.log.error({ err }, "UDP listener error"));
        if (this.config.readBuffer > 0) this.socket.setRecvBufferSize(this.config.readBuffer);
        resolve(this.socket.address().port);
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.socket, ...this.outputs.map((o) => o.socket)].map(closeSocket));
  }

  private relay(message: Buffer): void {
    this.counters.datagrams++;
    const points: Buffer[] = [];
    forEachPoint(
      message,
      () => timestampDigits(nowNs(), this.config.precision),
      (point) => points.push(point),
      (fault) => {
        this.counters.invalidLines++;
        this.warnings.warn("invalid-line", { line: fault.line }, `dropped an invalid UDP line: ${formatFault(fault)}`);
      },
    );
    if (points.length === 0) return;
    this.counters.points += points.length;
    for (const output of this.outputs) {
      for (const datagram of this.pack(points, output.config)) this.send(output, datagram);
    }
  }

  private send(output: { config: UdpOutputConfig; socket: Socket }, datagram: Buffer): void {
    try {
      output.socket.send(datagram);
    } catch (err) {
      // A socket whose connect failed throws on send instead of emitting an error.
      output.socket.emit("error", err);
    }
  }

  /** Groups points into datagrams of at most mtu bytes; a point longer than that travels alone. */
  private pack(points: readonly Buffer[], output: UdpOutputConfig): Buffer[] {
    const datagrams: Buffer[] = [];
    let batch: Buffer[] = [];
    let size = 0;
    const flush = () => {
      if (batch.length > 0) datagrams.push(Buffer.concat(batch, size));
      batch = [];
      size = 0;
    };
    for (const point of points) {
      if (point.length > output.mtu) {
        this.counters.oversizeLines++;
        this.warnings.warn(
          `oversize:${output.name}`,
          { output: output.name, bytes: point.length, mtu: output.mtu },
          `a ${point.length}-byte line exceeds output ${output.name}'s mtu of ${output.mtu}: sent in a datagram of its own`,
        );
        flush();
        datagrams.push(point);
        continue;
      }
      const needed = size === 0 ? point.length : size + 1 + point.length;
      if (needed > output.mtu) flush();
      if (size > 0) {
        batch.push(NEWLINE);
        size++;
      }
      batch.push(point);
      size += point.length;
    }
    flush();
    return datagrams;
  }

  private outputSocket(output: UdpOutputConfig): Socket {
    const socket = createSocket(isIPv6(output.host) ? "udp6" : "udp4");
    // Connected, so each send skips the address lookup and errors surface on the socket.
    socket.connect(output.port, output.host);
    socket.on("error", (err) => {
      this.counters.sendErrors++;
      this.warnings.warn(`send:${output.name}`, { output: output.name, err: err.message }, `UDP send to output ${output.name} failed`);
    });
    return socket;
  }
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
