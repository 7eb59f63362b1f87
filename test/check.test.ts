// godwit check on this machine kind (KERNEL.md): what was measured there must be found again at
// run time, the report must be the same shape every time, and a non-root user must get a clear
// answer instead of a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { godwit, alive, sleep } from './lib/harness.js';

interface Probe { id: string; name: string; ok: boolean; detail: string; consequence: string }
interface Report {
  kernel: string; root: boolean; cpu: { model: string; flags: string[]; xsaveSize: number; xsaveFeatures: string };
  xsaveSize: number; pidMax: number; probes: Probe[]; tracking: string; canDump: boolean; canRestore: boolean;
  missing: { dump: string[]; restore: string[] }; summary: string;
}

const KEYS = ['kernel', 'root', 'cpu', 'xsaveSize', 'pidMax', 'probes', 'tracking', 'canDump', 'canRestore', 'missing', 'summary'];
const PROBE_KEYS = ['id', 'name', 'ok', 'detail', 'consequence'];
const IDS = ['root', 'ptrace', 'xsave', 'clone3_set_tid', 'pidfd_getfd', 'process_vm', 'uffd_wp_async', 'pagemap_scan', 'soft_dirty',
  'tcp_repair', 'nftables', 'namespaces', 'pr_set_mm_map', 'map_files', 'kcmp', 'vdso'];

function checkJson(opts: { uid?: number } = {}): { code: number; report: Report; stderr: string } {
  const r = godwit(['check', '--json'], opts);
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    assert.fail(`check --json printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

function probe(r: Report, id: string): Probe {
  const p = r.probes.find((x) => x.id === id);
  assert.ok(p, `probe ${id} is in the report`);
  return p;
}

/** Does this kernel set pagemap bit 55? Asked of our own stack, independently of godwit. */
function kernelSetsSoftDirty(): boolean {
  const m = /^([0-9a-f]+)-([0-9a-f]+) .*\[stack\]$/m.exec(readFileSync('/proc/self/maps', 'utf8'));
  assert.ok(m, 'the test process has a [stack] mapping');
  const start = parseInt(m[1]!, 16), end = parseInt(m[2]!, 16);
  const buf = Buffer.alloc(((end - start) / 4096) * 8);
  const fd = openSync('/proc/self/pagemap', 'r');
  try {
    const n = readSync(fd, buf, 0, buf.length, (start / 4096) * 8);
    for (let o = 0; o + 8 <= n; o += 8) if ((buf.readUInt32LE(o + 4) >>> 23) & 1) return true;
    return false;
  } finally {
    closeSync(fd);
  }
}

test('check --json finds what dump, restore and pre-copy rely on here', () => {
  const { code, report: r, stderr } = checkJson();
  assert.equal(code, 0, `exit code; stderr: ${stderr}`);
  assert.deepEqual(Object.keys(r), KEYS, 'top-level keys are stable');
  assert.deepEqual(r.probes.map((p) => p.id), IDS, 'every probe, in a stable order');
  for (const p of r.probes) {
    assert.deepEqual(Object.keys(p), PROBE_KEYS, `${p.id}: keys`);
    assert.ok(p.detail.length > 5 && p.consequence.length > 10, `${p.id} says what it found and what follows`);
  }
  for (const id of ['root', 'ptrace', 'xsave', 'clone3_set_tid', 'pidfd_getfd', 'process_vm', 'uffd_wp_async', 'pagemap_scan',
    'tcp_repair', 'nftables', 'namespaces', 'pr_set_mm_map', 'map_files', 'kcmp', 'vdso']) {
    assert.equal(probe(r, id).ok, true, `${id}: ${JSON.stringify(probe(r, id))}`);
  }
  assert.equal(r.root, true);
  assert.ok(r.canDump && r.canRestore, r.summary);
  assert.deepEqual(r.missing, { dump: [], restore: [] });

  // the xsave size is the kernel's, and it agrees with the xfeatures it reports
  assert.ok(r.xsaveSize > 512 && r.xsaveSize === r.cpu.xsaveSize, `xsave size ${r.xsaveSize}`);
  const features = BigInt(r.cpu.xsaveFeatures);
  assert.equal(features & 3n, 3n, 'x87 and SSE state are always there');
  assert.equal(r.cpu.flags.includes('avx'), (features & 4n) !== 0n, 'AVX state is enabled exactly when the CPU has AVX');
  assert.match(probe(r, 'xsave').detail, new RegExp(`NT_X86_XSTATE ${r.xsaveSize} bytes`));

  // clone3 set_tid gave the PID it asked for, below pid_max; the process it made is gone again
  const pid = Number(/requested PID (\d+)/.exec(probe(r, 'clone3_set_tid').detail)?.[1]);
  assert.ok(pid > 300 && pid < r.pidMax, `PID ${pid} within pid_max ${r.pidMax}`);
  assert.equal(alive(pid), false, `the seed ${pid} was killed`);

  // uffd write-protect in async mode, with WP_UNPOPULATED, and PAGEMAP_SCAN: the uffd backend
  assert.match(probe(r, 'uffd_wp_async').detail, /WP_ASYNC yes, WP_UNPOPULATED yes/);
  assert.equal(r.tracking, 'uffd');

  // soft-dirty: the report agrees with what the kernel does to our own pagemap
  const soft = probe(r, 'soft_dirty');
  assert.equal(soft.ok, kernelSetsSoftDirty(), `soft-dirty probe vs /proc/self/pagemap bit 55: ${soft.detail}`);
  if (!soft.ok) assert.match(soft.detail, /CONFIG_MEM_SOFT_DIRTY/);

  assert.match(probe(r, 'vdso').detail, /\[vvar\].*\[vdso\]/);
  assert.match(probe(r, 'namespaces').detail, /net, pid, mnt/);
});

test('check prints every probe as a table with its answer and what follows', () => {
  const { report } = checkJson();
  const r = godwit(['check']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^FEATURE\s+OK\s+DETAIL\s+CONSEQUENCE$/m);
  for (const p of report.probes) {
    assert.match(r.stdout, new RegExp(`^${p.name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s+(yes|NO)\\s+\\S`, 'm'), `a row for ${p.name}`);
  }
  assert.match(r.stdout, /^dirty-page tracking for pre-copy: uffd/m);
  assert.match(r.stdout, /^dump: yes$/m);
  assert.match(r.stdout, /^restore: yes$/m);
  assert.equal(r.stderr, '');
});

test('check as a non-root user: a full report that says godwit needs root, and no stack trace', () => {
  const text = godwit(['check'], { uid: 65534 });
  assert.equal(text.code, 1);
  assert.match(text.stdout, /godwit needs root/);
  assert.match(text.stdout, /^root privileges\s+NO\s/m);
  assert.doesNotMatch(text.stdout + text.stderr, /\n\s+at |internal error/);

  const { code, report: r, stderr } = checkJson({ uid: 65534 });
  assert.equal(code, 1);
  assert.doesNotMatch(stderr, /\n\s+at |internal error/);
  assert.deepEqual(r.probes.map((p) => p.id), IDS, 'the report still lists every probe');
  assert.equal(r.root, false);
  assert.equal(r.canDump, false);
  assert.equal(r.canRestore, false);
  assert.ok(r.missing.dump.includes('root') && r.missing.restore.includes('root'));
  assert.match(r.summary, /godwit needs root/);
  for (const id of ['clone3_set_tid', 'tcp_repair']) {
    assert.equal(probe(r, id).ok, false, id);
    assert.match(probe(r, id).detail, /EPERM/, `${id} says why`);
  }
});

test('a check leaves no process behind', async () => {
  const before = new Set(pids());
  const { report } = checkJson();
  const pid = Number(/requested PID (\d+)/.exec(probe(report, 'clone3_set_tid').detail)?.[1]);
  const end = Date.now() + 3000;
  while (alive(pid) && Date.now() < end) await sleep(50);
  assert.equal(alive(pid), false, `seed ${pid} is gone (or a zombie waiting for init)`);
  const stray = pids().filter((p) => !before.has(p) && alive(p) && /^(godwit-seed|sleep|unshare)$/.test(comm(p)));
  assert.deepEqual(stray, [], 'no seed, sleep or unshare left running');
});

function pids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

function comm(pid: number): string {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; }
}
