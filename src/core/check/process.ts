// Probes on a throwaway process: clone3 with set_tid (the seed is born with the PID we ask for),
// ptrace (seize, interrupt, wait, regsets) and the xsave area the kernel hands out.
//
// The throwaway must not be a child that libuv manages, or libuv eats its ptrace stops
// (KERNEL.md): godwit-seed forks it and exits, so it is orphaned to init (or to the nearest
// subreaper). When clone3 is refused (not root), a detached `sleep` stands in so that ptrace
// still reports its own reason.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { ptrace, ptraceTry, PTRACE, NT, getRegset, getRseqConfig } from '../sys/ptrace.js';
import { wait, WALL } from '../sys/wait.js';
import { killTry, SIG } from '../sys/process.js';
import { nativeHelper } from '../native.js';
import { logger } from '../log.js';
import { attempt, skipped, errnoText, ProbeFailure, type Probe, type ProbeSpec } from './probe.js';

const log = logger('check');

const CLONE3: ProbeSpec = {
  id: 'clone3_set_tid', name: 'clone3 with set_tid',
  yes: 'restore gives every process its original PID',
  no: 'restore cannot give processes their original PIDs',
};
const PTRACE_SPEC: ProbeSpec = {
  id: 'ptrace', name: 'ptrace',
  yes: 'processes can be frozen, read and rebuilt from outside',
  no: 'nothing can be frozen, dumped or restored',
};
const XSAVE: ProbeSpec = {
  id: 'xsave', name: 'xsave area / CPU',
  yes: 'the whole xsave area (FPU, SSE, AVX, ...) is saved; a destination needs these xfeatures too',
  no: 'FPU/SSE/AVX registers cannot be saved: a restored process would lose them',
};

export interface CpuInfo {
  model: string;
  /** the flags that matter for moving register state, present on this CPU */
  flags: string[];
  /** bytes of NT_X86_XSTATE, from the kernel (0: unknown) */
  xsaveSize: number;
  /** the xfeatures mask (XCR0) the kernel uses for user state, hex; '' when unknown */
  xsaveFeatures: string;
}

export interface ProcessProbes { clone3: Probe; ptrace: Probe; xsave: Probe; pidMax: number; cpu: CpuInfo }

const INTERESTING_FLAGS = ['xsave', 'xsaveopt', 'xsavec', 'xsaves', 'avx', 'avx2', 'avx512f', 'avx512bw', 'avx512vl', 'pku', 'ospke', 'amx_tile', 'fsgsbase'];

// xfeature bits (arch/x86/include/asm/fpu/types.h)
const XFEATURES = ['x87', 'sse', 'avx', 'mpx-bndregs', 'mpx-bndcsr', 'avx512-opmask', 'avx512-zmm_hi256', 'avx512-hi16_zmm', 'pt', 'pkru', 'pasid', 'cet-u', 'cet-s', 'hdc', 'uintr', 'lbr', 'hwp', 'amx-tilecfg', 'amx-tiledata', 'apx'];

function readPidMax(): number {
  try { return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()); } catch { return 32768; }
}

/** A PID that no process or thread holds now, high in the range and away from busy low PIDs. */
function freePid(pidMax: number, skip: number): number {
  for (let p = pidMax - 1000 - skip * 97; p > 300; p -= 7) if (!existsSync(`/proc/${p}`)) return p;
  throw new ProbeFailure('no free PID found below pid_max');
}

function cpuInfo(): { model: string; flags: string[] } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1]?.trim() ?? 'unknown';
    const all = new Set((/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/));
    return { model, flags: INTERESTING_FLAGS.filter((f) => all.has(f)) };
  } catch {
    return { model: 'unknown', flags: [] };
  }
}

function ppidOf(pid: number): number {
  try { return Number(/^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? -1); } catch { return -1; }
}

/** Start the seed with a free PID; up to three PIDs in case another process takes ours first. */
function startSeed(pidMax: number): { pid: number; detail: string } {
  const seed = nativeHelper('godwit-seed');
  for (let tries = 0; ; tries++) {
    const want = freePid(pidMax, tries);
    const r = spawnSync(seed, [String(want)], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) throw new ProbeFailure(`cannot run ${seed}: ${r.error.message}`);
    if (r.status === 0) {
      const got = Number(r.stdout.trim());
      if (got !== want) {
        if (got > 0) killTry(got, SIG.KILL);
        throw new ProbeFailure(`asked clone3 for PID ${want}, got ${r.stdout.trim() || 'nothing'}`);
      }
      return { pid: got, detail: `a process was born with the requested PID ${want} (pid_max ${pidMax})` };
    }
    const errno = Number(/errno (\d+)/.exec(r.stderr)?.[1] ?? 0);
    if (errno === 17 && tries < 2) continue; // EEXIST: someone took the PID meanwhile
    const why = errno ? `clone3(set_tid=[${want}]): ${errnoText(errno)}` : (r.stderr.trim() || `seed exited with ${r.status ?? r.signal}`);
    const hint = errno === 1 ? ': needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE (godwit needs root)'
      : errno === 22 ? `: the PID may be above pid_max (${pidMax}) or the kernel lacks set_tid` : '';
    throw new ProbeFailure(why + hint);
  }
}

/** A stand-in tracee when the seed cannot be made: `sleep`, orphaned by its shell at once. */
function startStandIn(): number {
  const r = spawnSync('sh', ['-c', 'sleep 60 </dev/null >/dev/null 2>&1 & echo $!'], { encoding: 'utf8', timeout: 10_000 });
  const pid = Number(r.stdout?.trim());
  if (!(pid > 0)) throw new ProbeFailure(`no process to trace (clone3 failed and sh could not start sleep: ${r.error?.message ?? r.stderr})`);
  return pid;
}

function xsaveFeatures(xs: Buffer): bigint {
  // ptrace's NT_X86_XSTATE carries the user xfeatures mask (XCR0) in the first word of the
  // software-reserved bytes of the legacy area (struct user_xstateregs, USER_XSTATE_XCR0_WORD)
  return xs.length >= 472 ? xs.readBigUInt64LE(464) : 0n;
}

function describeFeatures(mask: bigint): string {
  const names: string[] = [];
  for (let i = 0; i < 64; i++) if ((mask >> BigInt(i)) & 1n) names.push(XFEATURES[i] ?? `bit${i}`);
  return names.join(' ');
}

export function probeProcesses(): ProcessProbes {
  const pidMax = readPidMax();
  const cpu = cpuInfo();
  let pid = 0;
  let seeded = false;
  const clone3 = attempt(CLONE3, () => {
    const s = startSeed(pidMax);
    pid = s.pid;
    seeded = true;
    return s.detail;
  });
  let xs: Buffer | undefined;
  let ptraceProbe: Probe | undefined;
  let attached = false;
  try {
    if (!pid) pid = startStandIn();
  } catch (e) {
    pid = 0;
    ptraceProbe = skipped(PTRACE_SPEC, (e as Error).message);
  }
  const victim = pid;
  const parentIsUs = victim ? ppidOf(victim) === process.pid : false; // we are a subreaper
  const traced = ptraceProbe ?? attempt({ ...PTRACE_SPEC, hint: (e) => (e === 1 ? 'not permitted (godwit needs root, or the process belongs to someone else)' : undefined) }, () => {
    ptrace(PTRACE.SEIZE, victim, 0, 0);
    attached = true;
    ptrace(PTRACE.INTERRUPT, victim);
    const st = wait(victim, WALL);
    if (st.kind !== 'stopped') throw new ProbeFailure(`the test process ${victim} did not stop (${st.kind})`);
    const regs = getRegset(victim, NT.PRSTATUS, 27 * 8);
    if (regs.length !== 27 * 8) throw new ProbeFailure(`NT_PRSTATUS gave ${regs.length} bytes, expected ${27 * 8}`);
    xs = getRegset(victim, NT.X86_XSTATE, 1 << 16);
    let rseq = 'PTRACE_GET_RSEQ_CONFIGURATION works';
    try { getRseqConfig(victim); } catch (e) { rseq = `PTRACE_GET_RSEQ_CONFIGURATION fails (${(e as Error).message})`; }
    return `SEIZE, INTERRUPT, waitpid(__WALL), GETREGSET(NT_PRSTATUS) work on a ${seeded ? 'seed' : 'sleep'} process; ${rseq}`;
  });
  if (victim) {
    const detached = attached && ptraceTry(PTRACE.DETACH, victim, 0, 0) === 0;
    killTry(victim, SIG.KILL);
    // still its tracer, or its parent (a subreaper): collect it so that it does not linger
    if ((attached && !detached) || parentIsUs) {
      try { while (wait(victim, WALL).kind === 'stopped'); } catch { /* already gone */ }
    }
    log.debug({ pid: victim, seeded }, 'check: throwaway process killed');
  }

  let xsaveSize = 0, features = 0n;
  const xsave = traced.ok && xs
    ? attempt(XSAVE, () => {
      xsaveSize = xs!.length;
      features = xsaveFeatures(xs!);
      if (xsaveSize < 576) throw new ProbeFailure(`NT_X86_XSTATE is only ${xsaveSize} bytes`);
      return `NT_X86_XSTATE ${xsaveSize} bytes, xfeatures 0x${features.toString(16)} (${describeFeatures(features)}); ` +
        `CPU ${cpu.model}: ${cpu.flags.join(' ') || 'no flags read'}; ${cpu.flags.includes('pku') ? 'pku present' : 'no pku'}`;
    })
    : skipped(XSAVE, `needs ptrace (see ptrace); CPU ${cpu.model}: ${cpu.flags.join(' ') || 'no flags read'}`);
  return {
    clone3, ptrace: traced, xsave, pidMax,
    cpu: { model: cpu.model, flags: cpu.flags, xsaveSize, xsaveFeatures: features ? `0x${features.toString(16)}` : '' },
  };
}
