// `status`: what the agent is doing now.
import { VERSION } from '../../core/version.js';
import type { AgentContext } from '../context.js';

export interface StatusReport {
  godwit: string;
  host: AgentContext['host'];
  uptimeSeconds: number;
  rssBytes: number;
  /** where the agent's memory is: V8's heap, and Buffers outside it */
  memory: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  operations: Array<{ op: string; migration: string; pid?: number; startedAt: string; progress: unknown }>;
  incoming: Array<{
    migration: string; label: string; links: string[]; receiving: string | null; createdAt: string;
    /** the tree built while pre-copy runs: links not built yet, links built, bytes written */
    building?: { pendingLinks: number; builtLinks: number; bytes: number; dropped: boolean };
  }>;
  outgoing: Array<{ migration: string; pid: number; peer: string; links: string[]; createdAt: string }>;
}

export function status(ctx: AgentContext): StatusReport {
  const r = ctx.registry;
  return {
    godwit: VERSION, host: ctx.host, uptimeSeconds: Math.round(process.uptime()), rssBytes: process.memoryUsage.rss(),
    memory: (({ heapUsed, heapTotal, external, arrayBuffers }) => ({ heapUsed, heapTotal, external, arrayBuffers }))(process.memoryUsage()),
    operations: [...r.running].map((o) => ({
      op: o.op, migration: o.migration, ...(o.pid ? { pid: o.pid } : {}), startedAt: new Date(o.started).toISOString(), progress: o.progress,
    })),
    incoming: [...r.incoming.values()].map((m) => ({
      migration: m.id, label: m.label, links: m.links, receiving: m.receiving, createdAt: new Date(m.created).toISOString(),
      ...(m.builder && m.buildAhead ? { building: { pendingLinks: m.builder.pending, builtLinks: m.builder.stats.links, bytes: m.builder.stats.bytes, dropped: m.builder.dropped } } : {}),
    })),
    outgoing: [...r.outgoing.values()].map((m) => ({
      migration: m.id, pid: m.pid, peer: m.peer, links: m.links, createdAt: new Date(m.created).toISOString(),
    })),
  };
}
