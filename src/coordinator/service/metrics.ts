// /metrics in Prometheus' text format (version 0.0.4): migrations by outcome, the downtime
// histogram of those that moved, bytes on the wire, and the agents' health. Counts come from the
// history, so they survive a restart of the coordinator.
import type { History } from '../store/history.js';
import type { HostView } from './health.js';

const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function renderMetrics(history: History, running: number, hosts: HostView[]): string {
  const t = history.totals();
  const L: string[] = [];
  L.push('# HELP godwit_migrations_total Migrations ended, by outcome.', '# TYPE godwit_migrations_total counter');
  const outcomes = { migrated: 0, 'rolled-back': 0, refused: 0, unknown: 0, interrupted: 0, ...t.byOutcome };
  for (const [o, n] of Object.entries(outcomes)) L.push(`godwit_migrations_total{outcome="${label(o)}"} ${n}`);
  L.push('# HELP godwit_migrations_running Migrations running now.', '# TYPE godwit_migrations_running gauge', `godwit_migrations_running ${running}`);
  L.push('# HELP godwit_migration_downtime_seconds Downtime of the migrations that moved their process.', '# TYPE godwit_migration_downtime_seconds histogram');
  const secs = t.downtimesMs.map((ms) => ms / 1000);
  for (const b of BUCKETS) L.push(`godwit_migration_downtime_seconds_bucket{le="${b}"} ${secs.filter((s) => s <= b).length}`);
  L.push(`godwit_migration_downtime_seconds_bucket{le="+Inf"} ${secs.length}`);
  L.push(`godwit_migration_downtime_seconds_sum ${secs.reduce((a, b) => a + b, 0)}`, `godwit_migration_downtime_seconds_count ${secs.length}`);
  L.push('# HELP godwit_migration_bytes_total Bytes sent on the wire by migrations, all links.', '# TYPE godwit_migration_bytes_total counter', `godwit_migration_bytes_total ${t.bytes}`);
  L.push('# HELP godwit_agent_up Whether the host\'s agent answered its last check.', '# TYPE godwit_agent_up gauge');
  for (const h of hosts) L.push(`godwit_agent_up{host="${label(h.name)}"} ${h.health.up ? 1 : 0}`);
  L.push('# HELP godwit_agent_latency_seconds How long the last check of the host\'s agent took (connect, authenticate, status).', '# TYPE godwit_agent_latency_seconds gauge');
  for (const h of hosts) if (h.health.latencyMs !== undefined) L.push(`godwit_agent_latency_seconds{host="${label(h.name)}"} ${h.health.latencyMs / 1000}`);
  return L.join('\n') + '\n';
}
