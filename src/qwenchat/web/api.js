// The playground's API client: the same HTTP calls any DashScope client makes.
//
// Errors arrive as ApiError with the HTTP status, DashScope's code and message, and the
// retry time a 429 or 503 carries (retry-after-ms, else Retry-After). An error frame inside
// a stream (`data: {"error":...}`) becomes an ApiError too, so callers handle one kind.

/** A refused or failed request, as the server described it. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfterSeconds = null, requestId = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
    this.requestId = requestId;
  }
}

/** Splits a server-sent event stream into its `data:` payloads, however it is chunked. */
export class SseParser {
  constructor() {
    this.buffer = "";
  }

  /** The complete events' data fields in `text` (plus what earlier calls left over). */
  feed(text) {
    // a "\r" at the end may be the first half of a "\r\n": it waits for the next text
    const raw = this.buffer + text;
    const held = raw.endsWith("\r") ? "\r" : "";
    const events = raw.slice(0, raw.length - held.length).replace(/\r\n?/g, "\n").split("\n\n");
    this.buffer = events.pop() + held;
    const payloads = [];
    for (const event of events) {
      const data = event.split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5));
      if (data.length) payloads.push(data.join("\n"));
    }
    return payloads;
  }
}

/** Seconds to wait before retrying, from a response's headers (null when none given). */
export function retryAfterSeconds(headers) {
  const ms = Number(headers.get("retry-after-ms"));
  if (ms > 0) return ms / 1000;
  const seconds = Number(headers.get("retry-after"));
  return seconds > 0 ? seconds : null;
}

async function errorFrom(response) {
  let error = {};
  let requestId = response.headers.get("x-request-id");
  try {
    const body = await response.json();
    error = body.error || {};
    requestId = body.request_id || requestId;
  } catch {
    // not a DashScope envelope (a proxy's page, say): the status line is all there is
  }
  return new ApiError(response.status, error.code || "http_error",
    error.message || `${response.status} ${response.statusText}`.trim(),
    retryAfterSeconds(response.headers), requestId);
}

/** Calls one qwenchat (or DashScope) compatible-mode base URL with an optional key. */
export class ApiClient {
  constructor(baseUrl, apiKey = "") {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.apiKey = apiKey;
  }

  headers() {
    const headers = { "Content-Type": "application/json" };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    return headers;
  }

  async send(path, init) {
    let response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { ...init, headers: this.headers() });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, "network_error", `Could not reach the server (${error.message}).`);
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  /** The model cards of the ids this key may use. */
  async models() {
    const response = await this.send("/models", { method: "GET" });
    const body = await response.json();
    return body.data;
  }

  /**
   * Streams a chat completion: yields each chunk object until [DONE]. An error frame, or a
   * stream that ends without [DONE], throws: a cut answer never looks complete.
   */
  async *streamChat(body, signal) {
    const response = await this.send("/chat/completions", {
      method: "POST", body: JSON.stringify(body), signal,
    });
    const requestId = response.headers.get("x-request-id");
    if (!(response.headers.get("content-type") || "").startsWith("text/event-stream")) {
      throw new ApiError(0, "not_a_stream", "The server did not answer with a stream.", null,
        requestId);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          throw new ApiError(0, "stream_incomplete",
            "The stream ended before the answer was complete.", null, requestId);
        }
        for (const data of parser.feed(value)) {
          if (data === "[DONE]") return;
          const chunk = JSON.parse(data);
          if (chunk.error) {
            const { code, message } = chunk.error;
            throw new ApiError(0, code || "stream_error", message, null,
              chunk.request_id || requestId);
          }
          yield chunk;
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }
}
