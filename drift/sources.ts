// Where the replicas and relays are, from what the operator points at: the local layout's run dir (its
// relays' relay.toml), one relay's relay.toml (its outputs, itself and its peers), or URLs given one by one.
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadConfig, type HostPort, type RelayConfig } from "../relay/config.js";
import { UsageError, type Where } from "./args.js";
import { replicaBaseUrl, type ReplicaAddress } from "../relay/drift/replica.js";

export interface Layout {
  readonly replicas: readonly ReplicaAddress[];
  /** Base URLs of the relays' HTTP listeners. */
  readonly relays: readonly string[];
  /** From a relay.toml's admin-token, when it has one. */
  readonly adminToken: string | undefined;
}

export function findLayout(where: Where, cwd: string): Layout {
  switch (where.kind) {
    case "urls":
      return { replicas: where.replicas, relays: where.relays, adminToken: undefined };
    case "config":
      return layoutOf([loadConfig(resolve(cwd, where.file))]);
    case "run-dir":
      return layoutOf(relayConfigsIn(resolve(cwd, where.dir)).map((file) => loadConfig(file)));
  }
}

/** relay-*\/relay.toml of a local layout's run dir. */
function relayConfigsIn(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw new UsageError(
      `cannot read the run dir ${dir}: ${(err as Error).message}. Start the layout (npm start) or give --config or --replica`,
    );
  }
  const files = entries
    .filter((e) => /^relay-\d+$/.test(e))
    .sort()
    .map((e) => join(dir, e, "relay.toml"));
  if (files.length === 0) throw new UsageError(`${dir} holds no relay-*/relay.toml: is it the run dir of npm start?`);
  return files;
}

/** The union of the configs' HTTP outputs (by name) and listeners, with their peers. */
function layoutOf(configs: readonly RelayConfig[]): Layout {
  const replicas = new Map<string, ReplicaAddress>();
  const relays = new Set<string>();
  let adminToken: string | undefined;
  for (const config of configs) {
    for (const listener of config.http) {
      for (const output of listener.outputs) {
        if (!replicas.has(output.name)) replicas.set(output.name, { name: output.name, url: replicaBaseUrl(output.location) });
      }
      relays.add(listenerUrl(listener.bindAddr, listener.sslCombinedPem !== undefined));
      for (const peer of listener.peers) relays.add(peer.replace(/\/+$/, ""));
      adminToken ??= listener.adminToken;
    }
  }
  if (replicas.size < 2) throw new UsageError(`the relay config names ${replicas.size} HTTP output: there is nothing to compare`);
  return { replicas: [...replicas.values()], relays: [...relays], adminToken };
}

/** How this machine reaches a listener: one bound to every interface is asked on loopback. */
function listenerUrl(bind: HostPort, tls: boolean): string {
  const host =
    bind.host === "" || bind.host === "0.0.0.0"
      ? "127.0.0.1"
      : bind.host === "::"
        ? "[::1]"
        : bind.host.includes(":")
          ? `[${bind.host}]`
          : bind.host;
  return `${tls ? "https" : "http"}://${host}:${bind.port}`;
}
