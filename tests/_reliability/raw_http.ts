// A minimal HTTP/1.1 keep-alive client over Deno.connect, for the shutdown
// test: unlike fetch(), it tells exactly when a request's bytes were written
// to the socket, and whether an answer was complete, cut short, or absent.

/** A complete answer. */
export interface RawAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** The connection ended before a complete answer; `partial` says whether any of it came. */
export class NoAnswerError extends Error {
  /** Whether some bytes of an answer arrived. */
  readonly partial: boolean;
  /**
   * @param message What happened.
   * @param partial Whether some bytes of an answer arrived.
   */
  constructor(message: string, partial: boolean) {
    super(message);
    this.name = "NoAnswerError";
    this.partial = partial;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One keep-alive connection; one request at a time. */
export class RawConnection {
  readonly #conn: Deno.TcpConn;
  readonly #host: string;
  #buffer = new Uint8Array(0);
  #closed = false;

  private constructor(conn: Deno.TcpConn, host: string) {
    this.#conn = conn;
    this.#host = host;
  }

  /**
   * Connects to `url`'s host and port.
   *
   * @param url The service, e.g. `http://127.0.0.1:41234`.
   * @returns The connection.
   */
  static async open(url: string): Promise<RawConnection> {
    const { hostname, port, host } = new URL(url);
    return new RawConnection(await Deno.connect({ hostname, port: Number(port) }), host);
  }

  /**
   * Sends a request and reads its answer.
   *
   * @param method The method.
   * @param path The path, e.g. `/api/v1/nodes/`.
   * @param body A JSON body.
   * @param onWritten Called once every byte of the request was written.
   * @returns The answer.
   * @throws {NoAnswerError} When the connection ended before a complete answer.
   */
  async request(
    method: string,
    path: string,
    body: unknown,
    onWritten: () => void = () => {},
  ): Promise<RawAnswer> {
    const payload = encoder.encode(JSON.stringify(body));
    const head = encoder.encode(
      `${method} ${path} HTTP/1.1\r\nhost: ${this.#host}\r\ncontent-type: application/json\r\n` +
        `content-length: ${payload.byteLength}\r\n\r\n`,
    );
    const bytes = new Uint8Array(head.byteLength + payload.byteLength);
    bytes.set(head);
    bytes.set(payload, head.byteLength);
    try {
      let written = 0;
      while (written < bytes.byteLength) written += await this.#conn.write(bytes.subarray(written));
    } catch (error) {
      throw new NoAnswerError(`the request could not be written: ${error}`, false);
    }
    onWritten();
    return await this.#readAnswer();
  }

  /**
   * Writes raw bytes of a request, e.g. a hand-made head or one byte of a body.
   *
   * @param data The text or bytes.
   * @throws {NoAnswerError} When the connection no longer takes them.
   */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    try {
      let written = 0;
      while (written < bytes.byteLength) written += await this.#conn.write(bytes.subarray(written));
    } catch (error) {
      throw new NoAnswerError(`the request could not be written: ${error}`, false);
    }
  }

  /**
   * Reads the next answer on the connection (after {@linkcode RawConnection.write}).
   *
   * @returns The answer.
   * @throws {NoAnswerError} When the connection ended before a complete answer.
   */
  answer(): Promise<RawAnswer> {
    return this.#readAnswer();
  }

  /** Closes the connection; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // closed already
    }
  }

  async #readAnswer(): Promise<RawAnswer> {
    let headEnd: number;
    while ((headEnd = indexOf(this.#buffer, "\r\n\r\n")) === -1) await this.#fill(true);
    const head = decoder.decode(this.#buffer.subarray(0, headEnd)).split("\r\n");
    this.#buffer = this.#buffer.subarray(headEnd + 4);
    const status = Number(head[0]!.split(" ")[1]);
    const headers = new Map<string, string>();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    let body: Uint8Array;
    if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
      body = await this.#readChunked();
    } else {
      const length = Number(headers.get("content-length") ?? "0");
      while (this.#buffer.byteLength < length) await this.#fill(false);
      body = this.#buffer.slice(0, length);
      this.#buffer = this.#buffer.subarray(length);
    }
    if (headers.get("connection")?.toLowerCase() === "close") this.close();
    return { status, headers, body: decoder.decode(body) };
  }

  async #readChunked(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (;;) {
      let lineEnd: number;
      while ((lineEnd = indexOf(this.#buffer, "\r\n")) === -1) await this.#fill(false);
      const size = parseInt(decoder.decode(this.#buffer.subarray(0, lineEnd)), 16);
      this.#buffer = this.#buffer.subarray(lineEnd + 2);
      while (this.#buffer.byteLength < size + 2) await this.#fill(false);
      if (size === 0) {
        this.#buffer = this.#buffer.subarray(2);
        break;
      }
      parts.push(this.#buffer.slice(0, size));
      this.#buffer = this.#buffer.subarray(size + 2);
    }
    const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
    const body = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      body.set(part, offset);
      offset += part.byteLength;
    }
    return body;
  }

  async #fill(inHead: boolean): Promise<void> {
    const chunk = new Uint8Array(16 * 1024);
    let read: number | null;
    try {
      read = await this.#conn.read(chunk);
    } catch (error) {
      this.close();
      throw new NoAnswerError(
        `the connection failed: ${error}`,
        !inHead || this.#buffer.byteLength > 0,
      );
    }
    if (read === null) {
      this.close();
      throw new NoAnswerError(
        "the connection closed before a complete answer",
        !inHead || this.#buffer.byteLength > 0,
      );
    }
    const merged = new Uint8Array(this.#buffer.byteLength + read);
    merged.set(this.#buffer);
    merged.set(chunk.subarray(0, read), this.#buffer.byteLength);
    this.#buffer = merged;
  }
}

function indexOf(bytes: Uint8Array, text: string): number {
  const needle = encoder.encode(text);
  outer: for (let i = 0; i + needle.byteLength <= bytes.byteLength; i++) {
    for (let j = 0; j < needle.byteLength; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
