// npm run bench (part 2): dirty-page tracking for pre-copy. For processes of 1 GiB and 4 GiB that
// dirty 1%, 10% and 50% of their pages between iterations: the time to find the dirty pages, and
// the cost of a write as the tracked process sees it (first write to a write-protected page), and
// the same once tracking has stopped (no slowdown may remain).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTracker, bestBackend, type TrackBackend } from '../src/core/mem/track/index.js';
import { pagesOf } from '../src/core/mem/track/tracker.js';
import { preDump } from '../src/core/predump.js';
import { dump } from '../src/core/dump.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sizes = (process.env.BENCH_TRACK_SIZES ?? '1024,4096').split(',').map(Number);
const pcts = [1, 10, 50];

function build(): string {
  const src = join(ROOT, 'bench/programs/dirtyhog.c'), out = join(ROOT, 'native/build/dirtyhog');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) execFileSync('cc', ['-O2', '-o', out, src]);
  return out;
}
function sleep(ms: number): void { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); }
function waitFor(file: string, re: RegExp, ms = 120_000): RegExpExecArray {
  const end = Date.now() + ms;
  for (;;) {
    const m = existsSync(file) ? re.exec(readFileSync(file, 'utf8')) : null;
    if (m) return m;
    if (Date.now() > end) throw new Error(`timeout waiting for ${re}`);
    sleep(10);
  }
}

const hog = build();
console.log(`\ngodwit bench: dirty tracking (best backend here: ${bestBackend()})`);
console.log('| backend | RSS | dirty | pages found | find ms | ms per GiB | write ns/page |');
console.log('|---|---|---|---|---|---|---|');
for (const backend of [bestBackend(), 'hash'] as TrackBackend[]) {
  for (const mib of sizes) {
    if (backend === 'hash' && mib > 1024) continue; // reads all memory each time: one size shows its cost
    const work = mkdtempSync('/dev/shm/godwit-track-');
    const log = join(work, 'hog.log');
    spawnSync('setsid', ['-f', 'sh', '-c', `cd "${work}" && exec "${hog}" ${mib} </dev/null >"${log}" 2>&1`]);
    const pid = Number(waitFor(log, /READY (\d+)/)[1]);
    let round = 0;
    const dirty = (pct: number): number => {
      writeFileSync(join(work, 'pct'), String(pct));
      process.kill(pid, 'SIGUSR1');
      return Number(waitFor(log, new RegExp(`^ROUND ${++round} \\d+ (\\d+)`, 'm'))[1]);
    };
    const tracker = startTracker(pid, backend);
    tracker.collect();
    for (const pct of pcts) {
      const nsTracked = dirty(pct);
      const t0 = performance.now();
      const found = pagesOf(tracker.collect());
      const ms = performance.now() - t0;
      console.log(`| ${backend} | ${mib / 1024} GiB | ${pct}% | ${found} | ${ms.toFixed(1)} | ${(ms / (mib / 1024)).toFixed(1)} | ${nsTracked} |`);
    }
    tracker.stop();
    const nsUntracked = dirty(10);
    console.log(`| ${backend} | ${mib / 1024} GiB | 10%, after stop | | | | ${nsUntracked} |`);
    process.kill(pid, 'SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}

// Pre-dump chains: the first link copies everything while the process runs; each later link and
// the final dump copy what was written since, and the final freeze follows the dirty set, not the
// size of the process.
console.log('\ngodwit bench: pre-copy chain (pre-dump, pre-dump, dump) on images in /dev/shm');
console.log('| RSS | dirty per round | link 1 MiB / ms | link 2 MiB / ms (frozen ms) | final dump MiB / frozen ms |');
console.log('|---|---|---|---|---|');
for (const mib of sizes) {
  for (const pct of pcts) {
    const work = mkdtempSync('/dev/shm/godwit-chain-');
    const log = join(work, 'hog.log');
    spawnSync('setsid', ['-f', 'sh', '-c', `cd "${work}" && exec "${hog}" ${mib} </dev/null >"${log}" 2>&1`]);
    const pid = Number(waitFor(log, /READY (\d+)/)[1]);
    let round = 0;
    const dirty = (): void => {
      writeFileSync(join(work, 'pct'), String(pct));
      process.kill(pid, 'SIGUSR1');
      waitFor(log, new RegExp(`^ROUND ${++round} `, 'm'));
    };
    const l1 = await preDump({ pid, dir: join(work, 'p1') });
    dirty();
    const l2 = await preDump({ pid, dir: join(work, 'p2'), prev: '../p1' });
    dirty();
    const f = await dump({ pid, dir: join(work, 'final'), prev: '../p2' });
    const m = (b: number) => (b / 1048576).toFixed(0);
    console.log(`| ${mib / 1024} GiB | ${pct}% | ${m(l1.pagesBytes)} / ${l1.totalMs.toFixed(0)} | ${m(l2.pagesBytes)} / ${l2.totalMs.toFixed(0)} (${l2.freezeMs.toFixed(1)}) | ${m(f.pagesBytes)} / ${f.freezeMs.toFixed(0)} |`);
    rmSync(work, { recursive: true, force: true });
  }
}
