import type Koa from 'koa';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EventStore } from '../eventstore/EventStore.ts';
import type { ProjectionRunner } from '../projections/ProjectionRunner.ts';

export interface MetricSources {
  eventStore: EventStore;
  projections: ProjectionRunner | null;
  sockets(): number;
}

/** GET /metrics in Prometheus' text format, and the middleware that times requests for it. */
export function createMetrics({ eventStore, projections, sockets }: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'chat_' });
  const requests = new Histogram({
    name: 'chat_http_request_duration_seconds',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3],
    registers: [registry],
  });
  new Gauge({
    name: 'chat_event_store_head_position',
    help: 'global position of the newest event in the log',
    registers: [registry],
    async collect() {
      this.set(Number(await eventStore.headPosition()));
    },
  });
  new Gauge({
    name: 'chat_projection_checkpoint',
    help: 'global position each projection has applied',
    labelNames: ['projection'],
    registers: [registry],
    collect() {
      for (const status of projections?.status() ?? []) this.set({ projection: status.name }, Number(status.checkpoint));
    },
  });
  new Gauge({
    name: 'chat_projection_lag_seconds',
    help: 'age of the newest event each projection has applied, while the log holds newer ones',
    labelNames: ['projection'],
    registers: [registry],
    async collect() {
      const head = await eventStore.headPosition();
      for (const status of projections?.status() ?? []) {
        const behind = status.checkpoint < head && status.checkpointRecordedAt !== null;
        this.set({ projection: status.name }, behind ? (Date.now() - Date.parse(status.checkpointRecordedAt!)) / 1000 : 0);
      }
    },
  });
  new Gauge({ name: 'chat_sockets_connected', help: 'sockets connected to this node', registers: [registry], collect() { this.set(sockets()); } });

  const timing: Koa.Middleware = async (ctx, next) => {
    const end = requests.startTimer({ method: ctx.method });
    try {
      await next();
    } finally {
      end({ route: (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched', status: String(ctx.status) });
    }
  };
  const endpoint: Koa.Middleware = async (ctx, next) => {
    if (ctx.path !== '/metrics' || ctx.method !== 'GET') return next();
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  };
  return { timing, endpoint };
}
