// HAProxy's stats page in CSV (GET <stats uri>;csv): the state of each server as HAProxy sees it.
// Pure parsing; the columns are found by the names in the header line.

export interface ServerState {
  /** Backend name, e.g. "relays". */
  readonly backend: string;
  readonly server: string;
  /** "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2" (coming up), "MAINT", "no check". */
  readonly status: string;
}

/** The server rows of a stats CSV (not the FRONTEND and BACKEND summary rows). */
export function parseStatsCsv(text: string): ServerState[] {
  const [header, ...rows] = text.split("\n").filter((line) => line.trim() !== "");
  if (header === undefined || !header.startsWith("# ")) throw new Error("not HAProxy stats CSV: the header line is missing");
  const columns = header.slice(2).split(",");
  const at = (name: string): number => {
    const index = columns.indexOf(name);
    if (index < 0) throw new Error(`HAProxy stats CSV has no "${name}" column`);
    return index;
  };
  const [backend, server, status] = [at("pxname"), at("svname"), at("status")];
  return rows
    .map((line) => line.split(","))
    .filter((cells) => cells[server] !== "FRONTEND" && cells[server] !== "BACKEND")
    .map((cells) => ({ backend: cells[backend] ?? "", server: cells[server] ?? "", status: cells[status] ?? "" }));
}
