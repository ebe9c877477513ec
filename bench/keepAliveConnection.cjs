'use strict';
/**
 * One keep-alive HTTP/1.1 connection for the benches' load generators: a request at a time, written
 * in one piece, its answer read by Content-Length. Node's own client (http.request and an Agent)
 * spends about 0.2 ms of CPU a request; on two cores that CPU is taken from the server under test,
 * so the load generator would cap the figure it is measuring. Plain CommonJS: the load generators
 * are workers run with `eval`, which `require` this file by its path.
 */
const net = require('node:net');

const HEAD_END = Buffer.from('\r\n\r\n');

class KeepAliveConnection {
  /** @param {string} host @param {number} port */
  constructor(host, port) {
    this.address = { host, port };
    this.host = `${host}:${port}`;
    /** the answer awaited: its status and body length once the head has come */
    this.waiting = null;
    this.connect();
  }

  /** A new socket; a request after a failure (which closes the old one) comes here. */
  connect() {
    const socket = net.connect({ ...this.address, noDelay: true });
    this.socket = socket;
    this.chunks = [];
    this.length = 0;
    // an old socket's last events concern no request of the new one
    socket.on('data', (chunk) => socket === this.socket && this.receive(chunk));
    socket.on('error', (error) => socket === this.socket && this.fail(error));
    socket.on('close', () => socket === this.socket && this.fail(new Error('the server closed the connection')));
  }

  /**
   * Sends one request and resolves with its status and body (a string). After a failed request the
   * connection is opened again.
   * @param {string} method @param {string} path @param {Record<string, string>} headers @param {string} [body]
   * @returns {Promise<{ status: number, body: string }>}
   */
  request(method, path, headers, body) {
    if (this.waiting) return Promise.reject(new Error('one request at a time on a connection'));
    if (this.socket.destroyed) this.connect();
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.host}\r\n`;
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    if (body !== undefined) head += `content-length: ${Buffer.byteLength(body)}\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject, status: 0, bodyStart: -1, bodyLength: 0 };
      this.socket.write(body === undefined ? `${head}\r\n` : `${head}\r\n${body}`);
    });
  }

  close() {
    this.socket.destroy();
  }

  /** @param {Buffer} chunk */
  receive(chunk) {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const waiting = this.waiting;
    if (!waiting) return this.fail(new Error('bytes arrived with no request waiting'));
    const data = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.length);
    this.chunks = [data];
    if (waiting.bodyStart < 0) {
      const end = data.indexOf(HEAD_END);
      if (end < 0) return;
      const head = data.toString('latin1', 0, end).toLowerCase();
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length: *(\d+)/.exec(head);
      // the backend gives every answer with a body its length; a chunked one would need a parser this client lacks
      if (!length && status !== 204 && status !== 304) return this.fail(new Error(`an answer without content-length: ${head.split('\r\n')[0]}`));
      waiting.status = status;
      waiting.bodyStart = end + HEAD_END.length;
      waiting.bodyLength = length ? Number(length[1]) : 0;
    }
    const end = waiting.bodyStart + waiting.bodyLength;
    if (data.length < end) return;
    if (data.length > end) return this.fail(new Error('more bytes than the answer held'));
    this.chunks = [];
    this.length = 0;
    this.waiting = null;
    waiting.resolve({ status: waiting.status, body: data.toString('utf8', waiting.bodyStart, end) });
  }

  /** @param {Error} error */
  fail(error) {
    const waiting = this.waiting;
    this.waiting = null;
    this.socket.destroy();
    if (waiting) waiting.reject(error);
  }
}

module.exports = { KeepAliveConnection };
