// Whether this host can take a tree a source surveyed: every PID free, every file the same, the
// CPU state it may use offered here, room for its memory and its image. A problem refuses the
// migration before anything is frozen; a warning goes into the preflight report.
import { statfsSync, readFileSync, existsSync } from 'node:fs';
import { cpuFlags } from '../cpu.js';
import { pidExists } from '../proc/tree.js';
import { identify, type TreeSurvey } from './tree.js';
import { buildId } from './elf.js';
import { ipcConflicts } from '../ipc/index.js';

export interface Admission {
  problems: string[];
  warnings: string[];
  /** PIDs and TIDs of the tree already taken here */
  taken: number[];
  freeMemoryBytes: number;
  freeDiskBytes: number;
}

/** CPU flags whose absence would make a restored thread fault on its next instruction. */
const STATE_FLAGS = /^(avx|avx2|avx512\w*|amx\w*|xsave\w*|fma|sse\d?\w*|ssse3|aes|sha_ni|bmi[12]|adx|f16c|movbe|pku|ospke|vaes|vpclmulqdq|gfni)$/;

function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export function admit(s: TreeSurvey, here: { xsaveFeatures: string; stateDir: string }): Admission {
  const problems: string[] = [], warnings: string[] = [];
  // a problem or not depending on where the caller restores (a new PID namespace): its call
  const taken = s.ids.filter((id) => pidExists(id));
  for (const f of s.files) {
    // the build-id is read only when size and mtime differ: most files are the same
    const d = identify(f.path, false);
    if (!d) { problems.push(`${f.path} is missing on the destination`); continue; }
    if (f.written || (d.size === f.size && d.mtimeMs === f.mtimeMs)) continue;
    if (f.buildId && buildId(f.path) === f.buildId) { warnings.push(`${f.path}: another copy of the same build (build-id ${f.buildId.slice(0, 12)}…)`); continue; }
    problems.push(`${f.path} differs on the destination (size ${d.size} vs ${f.size}, mtime ${new Date(d.mtimeMs).toISOString()} vs ${new Date(f.mtimeMs).toISOString()})`);
  }
  // a pty of the tree comes back with its index, which /dev/ptmx hands out only if it is free
  for (const t of s.terminals ?? []) {
    if (existsSync(t)) problems.push(`pseudo-terminal ${t} is in use on the destination, and the tree's pty must keep its index`);
  }
  // the objects are made with their ids and keys before the tree: one taken here is a dead end
  for (const c of ipcConflicts(s.ipc ?? [])) problems.push(`${c}; remove it there (ipcrm) or choose another destination`);
  const mask = (x: string): bigint => { try { return BigInt(/^0x/i.test(x) ? x : `0x${x || '0'}`); } catch { return 0n; } };
  const want = mask(s.xsaveFeatures), have = mask(here.xsaveFeatures);
  if (want & ~have) problems.push(`the destination's CPU lacks register state the source offers (xsave features 0x${(want & ~have).toString(16)})`);
  const mine = new Set(cpuFlags());
  const lacking = s.cpuFlags.filter((f) => STATE_FLAGS.test(f) && !mine.has(f));
  if (lacking.length) problems.push(`the destination's CPU lacks ${lacking.join(', ')}`);
  const freeMemoryBytes = memAvailable();
  if (freeMemoryBytes < s.memoryBytes * 1.1) {
    problems.push(`the destination has ${(freeMemoryBytes / 2 ** 20).toFixed(0)} MiB of memory available; the tree needs ${(s.memoryBytes / 2 ** 20).toFixed(0)} MiB`);
  }
  const fs = statfsSync(here.stateDir);
  const freeDiskBytes = Number(fs.bavail) * Number(fs.bsize);
  // the image of a cold restore lands in the state directory whole
  if (freeDiskBytes < s.memoryBytes * 1.05 + (16 << 20)) {
    problems.push(`the destination's state directory has ${(freeDiskBytes / 2 ** 20).toFixed(0)} MiB free; the tree's image needs about ${(s.memoryBytes / 2 ** 20).toFixed(0)} MiB`);
  }
  return { problems, warnings, taken, freeMemoryBytes, freeDiskBytes };
}
