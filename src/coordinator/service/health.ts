// The agents' health, as the coordinator sees it: every few seconds each host's agent is asked
// for its status over a fresh, authenticated connection. A host is up when that works; the time
// it took, what the agent says of itself and the last error are kept for the API and metrics.
import { AgentClient, type ClientOptions } from '../../pageserver/client.js';
import type { StatusReport } from '../../agent/ops/status.js';
import type { HostEntry } from '../hosts.js';
import { errorMessage } from '../../core/errors.js';
import { logger } from '../../core/log.js';

export interface HostHealth {
  up: boolean;
  /** ms since the epoch */
  checkedAt: number;
  latencyMs?: number;
  hostname?: string;
  kernel?: string;
  godwit?: string;
  /** operations the agent runs now */
  running?: number;
  error?: string;
}

export interface HostView { name: string; url: string; health: HostHealth }

export class HostWatcher {
  private health = new Map<string, HostHealth>();
  private timer: NodeJS.Timeout | null = null;
  private readonly log = logger('coordinator');

  constructor(
    private readonly hosts: HostEntry[],
    private readonly credentials: (h: HostEntry) => ClientOptions,
    private readonly onChange: (hosts: HostView[]) => void,
    private readonly intervalMs = 5000,
  ) {
    for (const h of hosts) this.health.set(h.name, { up: false, checkedAt: 0, error: 'not checked yet' });
  }

  async start(): Promise<void> {
    await this.checkAll();
    this.timer = setInterval(() => { void this.checkAll(); }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  list(): HostView[] {
    return this.hosts.map((h) => ({ name: h.name, url: h.url, health: this.health.get(h.name)! }));
  }

  private async checkAll(): Promise<void> {
    const before = JSON.stringify(this.list().map((h) => [h.name, h.health.up, h.health.error ?? '', h.health.running ?? 0]));
    await Promise.all(this.hosts.map((h) => this.check(h)));
    const after = JSON.stringify(this.list().map((h) => [h.name, h.health.up, h.health.error ?? '', h.health.running ?? 0]));
    if (after !== before) this.onChange(this.list());
  }

  private inFlight = new Set<string>();

  private async check(h: HostEntry): Promise<void> {
    // an agent that accepts and then stalls must not pile up checks
    if (this.inFlight.has(h.name)) return;
    this.inFlight.add(h.name);
    const t0 = performance.now();
    let client: AgentClient | undefined;
    const was = this.health.get(h.name)!;
    try {
      client = await AgentClient.connect(h.url, { ...this.credentials(h), connectTimeoutMs: 3000 });
      const st = (await client.callWithin('status', {}, 5000)) as StatusReport;
      this.health.set(h.name, {
        up: true, checkedAt: Date.now(), latencyMs: Math.round((performance.now() - t0) * 10) / 10,
        hostname: client.peer.host.hostname, kernel: client.peer.host.kernel, godwit: st.godwit, running: st.operations.length,
      });
      if (!was.up && was.checkedAt) this.log.info({ host: h.name }, 'agent up again');
    } catch (e) {
      this.health.set(h.name, { up: false, checkedAt: Date.now(), error: errorMessage(e) });
      if (was.up || !was.checkedAt) this.log.warn({ host: h.name, err: errorMessage(e) }, 'agent down');
    } finally {
      client?.close();
      this.inFlight.delete(h.name);
    }
  }
}
