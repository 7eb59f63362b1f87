// What a person or a program watching a migration sees: on a terminal, one line redrawn in
// place (phase, iteration, a bar for the current link, dirty rate, bandwidth, expected
// downtime); with --json, one JSON object per line for every change worth telling.
import type { MigrationProgress, MigrationReport } from './migration.js';
import { describePeer } from '../core/files/external.js';

const MB = 1e6;
const mb = (b: number): string => `${(b / MB).toFixed(b >= 100 * MB ? 0 : 1)} MB`;

export function jsonLines(out: NodeJS.WritableStream): (p: MigrationProgress) => void {
  let last = 0, lastKey = '';
  return (p) => {
    const key = `${p.phase}:${p.iteration}:${p.throttle}:${p.message ?? ''}`;
    const now = Date.now();
    // every change of phase or iteration, byte counts at most 5 times a second
    if (key === lastKey && now - last < 200) return;
    last = now; lastKey = key;
    out.write(`${JSON.stringify({ type: 'progress', ...p, dirtyRate: Math.round(p.dirtyRate), bandwidth: Math.round(p.bandwidth), expectedDowntimeMs: Math.round(p.expectedDowntimeMs * 10) / 10 })}\n`);
  };
}

/** Not a terminal (a log, a pipe): one plain line per phase or iteration as it ends. */
export function progressLines(out: NodeJS.WritableStream): (p: MigrationProgress) => void {
  let lastKey = '';
  return (p) => {
    const key = `${p.phase}:${p.iteration}:${p.message ?? ''}`;
    if (key === lastKey) return;
    lastKey = key;
    // nothing measured yet while the first pass goes in slices
    const extra = p.phase === 'precopy' && p.iteration > 1 && p.bandwidth > 0
      ? `  (last link: ${mb(p.bandwidth)}/s, dirty ${mb(p.dirtyRate)}/s, expected downtime ${p.expectedDowntimeMs.toFixed(0)} ms${p.throttle ? `, throttled ${p.throttle}%` : ''})`
      : '';
    out.write(`godwit: ${p.phase === 'precopy' ? `pre-copy ${p.iteration}` : p.phase}${extra}${p.message ? `: ${p.message}` : ''}\n`);
  };
}

export function progressBar(out: NodeJS.WriteStream): { update: (p: MigrationProgress) => void; end: () => void } {
  let lastPhase = '';
  let drawn = false;
  const width = () => Math.max(60, Math.min(out.columns || 100, 140));
  const update = (p: MigrationProgress): void => {
    if (drawn && p.phase !== lastPhase && lastPhase) out.write('\n');
    lastPhase = p.phase;
    const total = p.sent + p.left;
    const frac = total ? p.sent / total : 0;
    const bar = total ? `[${'#'.repeat(Math.round(frac * 20)).padEnd(20, '.')}] ${mb(p.sent)}/${mb(total)}` : '';
    const parts = [
      p.phase === 'precopy' ? `pre-copy ${p.iteration}` : p.phase, bar,
      p.bandwidth ? `link ${mb(p.bandwidth)}/s` : '', p.dirtyRate ? `dirty ${mb(p.dirtyRate)}/s` : '',
      p.expectedDowntimeMs ? `expected downtime ${p.expectedDowntimeMs.toFixed(0)} ms` : '', p.throttle ? `throttled ${p.throttle}%` : '',
    ].filter(Boolean);
    out.write(`\r${parts.join('  ').slice(0, width() - 1).padEnd(width() - 1)}`);
    drawn = true;
    if (p.message) { out.write(`\n  ${p.message}\n`); drawn = false; }
  };
  return { update, end: () => { if (drawn) out.write('\n'); drawn = false; } };
}

/** The end of a migration, for people. */
export function formatReport(r: MigrationReport): string {
  const L: string[] = [];
  const pf = r.preflight;
  if (pf) {
    L.push(`preflight: ${pf.ok ? 'ok' : 'REFUSED'}: tree of ${pf.tree.processes} process(es), ${pf.tree.threads} thread(s), ` +
      `${mb(pf.tree.memoryBytes)} private memory, ${pf.tree.files} file(s) checked on ${r.to}; tracking on ${r.from}: ${pf.source.tracking}`);
    for (const p of pf.problems) L.push(`  problem: ${p}`);
  }
  for (const w of r.warnings) L.push(`  warning: ${w}`);
  if (r.outcome === 'dry-run' || r.outcome === 'refused') return L.join('\n');
  for (const i of r.iterations) {
    L.push(`  ${i.link.padEnd(6)} ${mb(i.pagesBytes).padStart(10)} of pages, ${mb(i.wireBytes).padStart(10)} on the wire, ${(i.throughput / MB).toFixed(0)} MB/s, ` +
      `${i.ms} ms (frozen ${i.freezeMs} ms)${i.throttle ? `, throttled ${i.throttle}%` : ''}${i.owedBytes ? `, first pass: ${mb(i.owedBytes)} to go` : ''}`);
  }
  if (r.final) L.push(`  final  ${mb(r.final.pagesBytes).padStart(10)} of pages, ${mb(r.final.wireBytes).padStart(10)} on the wire`);
  if (r.convergedBecause) L.push(`pre-copy stopped: ${r.convergedBecause}`);
  if (r.builtAheadBytes !== undefined) L.push(`memory built on ${r.to} during pre-copy and kept: ${mb(r.builtAheadBytes)}`);
  if (r.downtime) {
    const d = r.downtime;
    L.push(`downtime ${d.totalMs} ms: final dump ${d.dumpMs} ms (freeze, state, dirty pages), transfer and check ${d.transferMs} ms, ` +
      `restore ${d.restoreMs} ms, ${r.network?.movedIps.length || d.handoverMs >= 1 ? `address handover ${d.handoverMs} ms, ` : ''}resume ${d.resumeMs} ms, coordination ${d.otherMs} ms`);
  }
  if (r.network && (r.network.connections || r.network.movedIps.length)) {
    L.push(`TCP connections carried: ${r.network.connections}${r.network.movedIps.length ? `; moved to ${r.to}: ${r.network.movedIps.join(', ')}` : ''}`);
  }
  for (const p of r.external ?? []) L.push(`external peer (stayed on ${r.from}): ${describePeer(p)}`);
  L.push(`total ${(r.totalMs / 1000).toFixed(2)} s (pre-copy ${(r.precopyMs / 1000).toFixed(2)} s); wire/pages ${r.compressionRatio}`);
  if (r.outcome === 'migrated') L.push(`process ${r.pid} now runs on ${r.to}${r.destinationPid !== undefined && r.destinationPid !== r.pid ? ` as PID ${r.destinationPid}` : ''}`);
  return L.join('\n');
}
