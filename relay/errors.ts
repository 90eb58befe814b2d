// Client-facing errors: an HTTP status and a message, answered as InfluxDB does: {"error": "..."}.

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}
