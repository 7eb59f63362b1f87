// npm run bench: dump and restore times for processes of 256 MiB, 1 GiB and 4 GiB of touched
// anonymous memory, images on tmpfs (/dev/shm). Each size runs RUNS times; the median is shown.
// Every restored process verifies all of its memory before it counts as a pass.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from '../src/core/dump.js';
import { restore } from '../src/core/restore.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sizes = (process.env.BENCH_SIZES ?? '256,1024,4096').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function build(): string {
  const src = join(ROOT, 'bench/programs/memhog.c');
  const out = join(ROOT, 'native/build/memhog');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) execFileSync('cc', ['-O2', '-o', out, src]);
  return out;
}

function sleep(ms: number): void { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); }

function waitFor(file: string, re: RegExp, ms: number): RegExpExecArray {
  const end = Date.now() + ms;
  for (;;) {
    const m = existsSync(file) ? re.exec(readFileSync(file, 'utf8')) : null;
    if (m) return m;
    if (Date.now() > end) throw new Error(`timeout waiting for ${re} in ${file}`);
    sleep(20);
  }
}

function pidGone(pid: number, ms: number): void {
  const end = Date.now() + ms;
  while (existsSync(`/proc/${pid}`) && Date.now() < end) sleep(20);
}

function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; }

const hog = build();
const rows: string[] = [];
console.log(`godwit bench: dump/restore of touched anonymous memory, images on /dev/shm, median of ${RUNS}`);
console.log('| RSS | dump s | dump GB/s | restore s | restore GB/s | dump+restore s | verified | godwit peak RSS |');
console.log('|---|---|---|---|---|---|---|---|');
for (const mib of sizes) {
  const dumps: number[] = [], restores: number[] = [];
  let verified = true;
  for (let run = 0; run < RUNS; run++) {
    const work = mkdtempSync('/dev/shm/godwit-bench-');
    const log = join(work, 'hog.log');
    spawnSync('setsid', ['-f', 'sh', '-c', `exec "${hog}" ${mib} </dev/null >"${log}" 2>&1`]);
    const pid = Number(waitFor(log, /READY (\d+)/, 120_000)[1]);
    const img = join(work, 'img');
    const d = await dump({ pid, dir: img });
    dumps.push(d.totalMs / 1000);
    pidGone(pid, 10_000);
    const r = await restore({ dir: img, detach: true, pidWaitMs: 15_000 });
    restores.push(r.restoreMs / 1000);
    process.kill(pid, 'SIGUSR2');
    const res = waitFor(log, /(PASS|FAIL)[^\n]*/, 120_000)[0];
    if (!res.startsWith('PASS')) verified = false;
    pidGone(pid, 10_000);
    rmSync(work, { recursive: true, force: true });
  }
  const gb = mib / 1024 * 1.073741824;
  const dm = median(dumps), rm = median(restores);
  const row = `| ${mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`} | ${dm.toFixed(2)} | ${(gb / dm).toFixed(2)} | ${rm.toFixed(2)} | ${(gb / rm).toFixed(2)} | ${(dm + rm).toFixed(2)} | ${verified ? 'yes' : 'NO'} | ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB |`;
  rows.push(row);
  console.log(row);
}
console.log('godwit peak RSS: this process, which ran every dump and restore so far; it must not grow with the size.');
console.log('CRIU 4.2 on this machine kind (shared/KERNEL.md): 1 GiB dump 0.84-1.01 s, restore 0.89-0.99 s.');
