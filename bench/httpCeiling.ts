import Koa from 'koa';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Servers that do no work at all, to measure what the machine and the framework cost before any
 * query runs: under the same load generator and clients, no route of the backend can beat them.
 * Both answer every request with the same 1 KB of JSON, about the size of a mychats page.
 */
export interface CeilingServer {
  name: string;
  note: string;
  start(): Promise<{ url: string; close(): Promise<void> }>;
}

const ANSWER = {
  count: 5,
  results: Array.from({ length: 5 }, (_, i) => ({ id: i, name: `chat ${i}`, lastmessage: 'x'.repeat(150) })),
};

function listen(handler: http.RequestListener) {
  return async () => {
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () => {
        // keep-alive connections would hold close() open
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  };
}

const text = JSON.stringify(ANSWER);
const koa = new Koa().use((ctx) => {
  ctx.body = ANSWER;
});

export const ceilingServers: CeilingServer[] = [
  {
    name: 'node:http, a constant answer',
    note: 'a bare Node HTTP server writing the same bytes each time',
    start: listen((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      response.end(text);
    }),
  },
  { name: 'Koa, a constant answer', note: 'Koa with one middleware setting the same body each time', start: listen(koa.callback()) },
];
