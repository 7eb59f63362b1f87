// What the tests of real servers check about a migration, and say when it fails.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sleep, type TestLike } from './harness.js';
import type { Cluster } from './hosts.js';
import type { LoadStats } from './servers.js';
import type { MigrationReport } from '../../src/coordinator/migration.js';
import { probeTcpRepair, probeNftables } from '../../src/core/check/network.js';
import { probeTracking } from '../../src/core/check.js';
import { writeHostsFile, startMigrate } from './migrate.js';

const repair = probeTcpRepair(), nftables = probeNftables(), uffd = probeTracking().uffd;

/**
 * Skip `t` (and return false) unless the kernel has what a server's live migration needs: TCP
 * repair and nftables to carry its clients' connections, and dirty tracking by userfaultfd for
 * the pre-copy the destination builds ahead from.
 */
export function serversNeed(t: TestLike): boolean {
  if (!repair.ok) { t.skip(`this kernel lacks TCP repair: ${repair.detail}`); return false; }
  if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return false; }
  if (!uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN: no pre-copy to build ahead from'); return false; }
  return true;
}

/** The lines of `host`'s agent log about `migration` whose message matches `msg`, as `msg: field=value ...`. */
export function agentSays(c: Cluster, host: string, migration: string, msg: RegExp): string[] {
  return readFileSync(c.hosts[host]!.log, 'utf8').split('\n').flatMap((l) => {
    let o: Record<string, unknown>;
    try { o = JSON.parse(l) as Record<string, unknown>; } catch { return []; }
    if (!JSON.stringify(o).includes(migration) || typeof o.msg !== 'string' || !msg.test(o.msg)) return [];
    const { level: _l, time: _t, pid: _p, hostname: _h, msg: m, ...rest } = o;
    return [`${m}: ${Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}`];
  });
}

/**
 * The destination kept memory it built while pre-copy ran (the restore did not write it all
 * again). When it did not, the message says what B's agent logged about building ahead.
 */
export function builtAhead(c: Cluster, rep: MigrationReport, to = 'b'): void {
  const bytes = rep.builtAheadBytes ?? 0;
  if (bytes > 0) return;
  const said = agentSays(c, to, rep.migration, /built ahead|build|seed|prebuil/i);
  assert.fail(`no memory built ahead was kept on ${to}: report.builtAheadBytes = ${rep.builtAheadBytes}; ` +
    (said.length ? `${to}'s agent logged:\n  ${said.join('\n  ')}` : `${to}'s agent logged nothing about building ahead for migration ${rep.migration} (it did not build ahead at all)`));
}

const mib = (b: number | undefined): string => ((b ?? 0) / 2 ** 20).toFixed(1);

/** One line for the test's diagnostics: downtime by phase, memory built ahead, what the client saw. */
export function describe(rep: MigrationReport, s: LoadStats): string {
  const d = rep.downtime;
  const phases = d ? `dump ${d.dumpMs}, transfer ${d.transferMs}, restore ${d.restoreMs}, handover ${d.handoverMs}, resume ${d.resumeMs}, other ${d.otherMs}` : 'none';
  return `downtime ${d?.totalMs ?? '?'} ms (${phases}); ${rep.iterations.length} links; built ahead and kept ${mib(rep.builtAheadBytes)} MiB; ` +
    `total ${(rep.totalMs / 1000).toFixed(2)} s; the client: ${s.requests} answers, longest wait ${s.maxGapMs} ms, ${s.failures.length} failures`;
}

/** The client's count when the migration ended, and its stats once it has gone on for a second (its longest wait, the one across the freeze, ends only when its first retransmit after the resume is answered). */
export async function goesOn(loop: { stats(): LoadStats }): Promise<{ during: number; after: LoadStats }> {
  const during = loop.stats().requests;
  await sleep(1000);
  for (let i = 0; i < 40 && loop.stats().requests <= during; i++) await sleep(250);
  return { during, after: loop.stats() };
}

/**
 * `godwit migrate --move-ip` of a server A→B while its client `loop` runs, and what the client
 * must have seen: no failure, the same connection, answers before, during and after.
 */
export async function migrateUnderLoad(
  t: Pick<TestLike, 'after'> & { diagnostic(s: string): void }, c: Cluster, loop: { stats(): LoadStats; resetGap(): void },
  pid: number, svc: { cidr: string }, extra: string[], what: string,
): Promise<MigrationReport> {
  await sleep(500);
  const before = loop.stats().requests;
  loop.resetGap();
  const r = await startMigrate(['--hosts', writeHostsFile(c), '--from', 'a', '--to', 'b', '--pid', String(pid), '--move-ip', svc.cidr, ...extra]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr.slice(-3000)}`);
  const rep = r.report!;
  assert.equal(rep.outcome, 'migrated');
  const { during, after } = await goesOn(loop);
  t.diagnostic(describe(rep, after));
  assert.deepEqual(after.failures, [], 'the client saw failures');
  assert.equal(after.connections, 1, 'the client had to open another connection');
  assert.ok(during > before, `the client got ${before} ${what} before the migration and ${during} by its end`);
  assert.ok(after.requests > during, `no ${what.replace(/s$/, '')} after the migration (${during} by its end, ${after.requests} a second later)`);
  return rep;
}
