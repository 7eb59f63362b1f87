// What this host's kernel lets godwit do, probed for real at run time. Every probe reports what
// it found and what follows for godwit; a failing probe never throws.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, openSync, closeSync, writeFileSync, readSync } from 'node:fs';
import koffi from 'koffi';
import { sys, addr } from './sys/libc.js';
import { NR } from './sys/nr.js';
import { ptrace, ptraceTry, PTRACE, NT, getRegset } from './sys/ptrace.js';
import { wait } from './sys/wait.js';
import { processVm, kcmpFile, killTry, SIG } from './sys/process.js';
import { localMmap, localMunmap, PROT, MAP, PAGE_SIZE } from './sys/mman.js';
import { nativeHelper } from './native.js';

export interface Probe { name: string; ok: boolean; detail: string; consequence: string }
export interface HostReport {
  kernel: string;
  root: boolean;
  probes: Probe[];
  tracking: 'uffd' | 'soft-dirty' | 'hash';
  xsaveSize: number;
  canDump: boolean;
  canRestore: boolean;
}

function attempt(name: string, consequenceIfNot: string, okText: string, f: () => string): Probe {
  try {
    return { name, ok: true, detail: f(), consequence: okText };
  } catch (e) {
    return { name, ok: false, detail: (e as Error).message, consequence: consequenceIfNot };
  }
}

function freePid(): number {
  const max = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let p = max - 1000; p > 300; p -= 7) if (!existsSync(`/proc/${p}`)) return p;
  throw new Error('no free PID found');
}

/** ptrace, clone3 set_tid and the xsave size, on a throwaway seed that is nobody's child here. */
function probeSeed(): { ptrace: Probe; clone3: Probe; xsave: number } {
  let pid = 0, xsave = 0;
  const clone3 = attempt('clone3 with set_tid', 'restore cannot give processes their original PIDs', 'restore gives every process its original PID', () => {
    const want = freePid();
    const r = spawnSync(nativeHelper('godwit-seed'), [String(want)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error((r.stderr || `seed exit ${r.status}`).trim());
    pid = Number(r.stdout.trim());
    if (pid !== want) throw new Error(`asked for PID ${want}, got ${pid}`);
    return `a process was created with PID ${want}`;
  });
  const pt = attempt('ptrace', 'nothing can be frozen or dumped', 'processes can be frozen, read and rebuilt', () => {
    if (!pid) throw new Error('no test process (see clone3)');
    ptrace(PTRACE.SEIZE, pid, 0, 0);
    ptrace(PTRACE.INTERRUPT, pid);
    const st = wait(pid);
    if (st.kind !== 'stopped') throw new Error(`test process ${st.kind}`);
    getRegset(pid, NT.PRSTATUS, 27 * 8);
    xsave = getRegset(pid, NT.X86_XSTATE, 65536).length;
    ptraceTry(PTRACE.DETACH, pid, 0, 0);
    return `seize, interrupt, waitpid and GETREGSET work; xsave area ${xsave} bytes`;
  });
  if (pid) killTry(pid, SIG.KILL);
  return { ptrace: pt, clone3, xsave };
}

function ioctl(fd: number, req: number, arg: Buffer): number {
  return sys(`ioctl(0x${req.toString(16)})`, NR.ioctl, fd, req, addr(arg));
}

const UFFDIO_API = 0xc018aa3f, UFFD_FEATURE_WP_ASYNC = 1n << 15n, UFFD_FEATURE_WP_UNPOPULATED = 1n << 13n;
const PAGEMAP_SCAN = 0xc0606610, PAGE_IS_PRESENT = 1n << 3n;

function probeUffd(): Probe {
  return attempt('userfaultfd write-protect (async)', 'pre-copy falls back to soft-dirty or content hashing', 'dirty pages can be tracked exactly without soft-dirty', () => {
    const fd = sys('userfaultfd', NR.userfaultfd, 0o2000000 | 0o4000 | 1);
    try {
      const api = Buffer.alloc(24);
      api.writeBigUInt64LE(0xaan, 0);
      ioctl(fd, UFFDIO_API, api);
      const f = api.readBigUInt64LE(8);
      const wpAsync = (f & UFFD_FEATURE_WP_ASYNC) !== 0n, unpop = (f & UFFD_FEATURE_WP_UNPOPULATED) !== 0n;
      if (!wpAsync) throw new Error(`features 0x${f.toString(16)} lack WP_ASYNC`);
      return `features 0x${f.toString(16)}: WP_ASYNC yes, WP_UNPOPULATED ${unpop ? 'yes' : 'no'}`;
    } finally {
      closeSync(fd);
    }
  });
}

function probePagemapScan(): Probe {
  return attempt('PAGEMAP_SCAN ioctl', 'dirty pages are found by reading /proc/PID/pagemap (slower)', 'present and written pages are found in one call per range', () => {
    const len = 4 * PAGE_SIZE;
    const m = localMmap(len, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS);
    const fd = openSync('/proc/self/pagemap', 'r');
    try {
      Buffer.from(koffi.view(Number(m), len) as ArrayBuffer)[PAGE_SIZE] = 1;
      const vec = Buffer.alloc(24 * 4);
      const a = Buffer.alloc(96);
      [96n, 0n, m, m + BigInt(len), 0n, addr(vec), 4n, 0n, 0n, 0n, PAGE_IS_PRESENT, PAGE_IS_PRESENT].forEach((v, i) => a.writeBigUInt64LE(v, i * 8));
      const n = ioctl(fd, PAGEMAP_SCAN, a);
      if (n !== 1 || vec.readBigUInt64LE(0) !== m + BigInt(PAGE_SIZE)) throw new Error(`unexpected answer: ${n} regions`);
      return 'reported exactly the one present page of a test mapping';
    } finally {
      closeSync(fd);
      localMunmap(m, len);
    }
  });
}

function probeSoftDirty(): Probe {
  return attempt('soft-dirty bit', 'dirty tracking uses userfaultfd-wp or hashing', 'dirty tracking can use soft-dirty (as CRIU does)', () => {
    const m = localMmap(PAGE_SIZE, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS);
    try {
      const view = Buffer.from(koffi.view(Number(m), PAGE_SIZE) as ArrayBuffer);
      view[0] = 1;
      writeFileSync('/proc/self/clear_refs', '4');
      view[0] = 2;
      const fd = openSync('/proc/self/pagemap', 'r');
      const e = Buffer.alloc(8);
      readSync(fd, e, 0, 8, Number(m / 4096n) * 8);
      closeSync(fd);
      if (!((e.readBigUInt64LE(0) >> 55n) & 1n)) throw new Error('a page written after clear_refs is not marked (CONFIG_MEM_SOFT_DIRTY is not set)');
      return 'a page written after clear_refs is marked';
    } finally {
      localMunmap(m, PAGE_SIZE);
    }
  });
}

function probeSelf(): Probe[] {
  const out: Probe[] = [];
  out.push(attempt('pidfd_getfd', 'open files of a process cannot be taken for inspection (pipes, sockets)', 'open files are read through duplicates of the very same file', () => {
    const pidfd = sys('pidfd_open', NR.pidfd_open, process.pid, 0);
    try {
      const fd = sys('pidfd_getfd', NR.pidfd_getfd, pidfd, 0, 0);
      closeSync(fd);
      return 'duplicated fd 0 of this process';
    } finally {
      closeSync(pidfd);
    }
  }));
  out.push(attempt('process_vm_readv/writev', 'memory must be copied through /proc/PID/mem (slower)', 'memory moves in large calls', () => {
    const src = Buffer.from('godwit'), dst = Buffer.alloc(6);
    processVm(false, process.pid, addr(dst), [[Number(addr(src)), 6]]);
    if (!dst.equals(src)) throw new Error('copied bytes differ');
    return 'copied a test buffer';
  }));
  out.push(attempt('kcmp', 'files shared between processes cannot be recognised as shared', 'a file shared by several processes is restored shared', () => {
    if (kcmpFile(process.pid, process.pid, 0, 0) !== 0) throw new Error('an fd did not compare equal to itself');
    return 'KCMP_FILE works';
  }));
  out.push(attempt('PR_SET_MM_MAP', 'restore cannot set brk, arguments, environment and auxv', 'the memory layout fields are restored', () => {
    const size = Buffer.alloc(4);
    sys('prctl(PR_SET_MM_MAP_SIZE)', NR.prctl, 35, 15, addr(size), 0, 0);
    return `struct prctl_mm_map is ${size.readUInt32LE(0)} bytes`;
  }));
  out.push(attempt('/proc/PID/map_files', 'shared anonymous memory cannot be restored shared', 'shared anonymous memory is restored shared', () => {
    return `${readdirSync('/proc/self/map_files').length} entries readable`;
  }));
  out.push(attempt('TCP repair', 'live TCP connections cannot be migrated', 'established TCP connections can be checkpointed', () => {
    const s = sys('socket', NR.socket, 2, 1, 0);
    try {
      const one = Buffer.alloc(4); one.writeInt32LE(1, 0);
      sys('setsockopt(TCP_REPAIR)', NR.setsockopt, s, 6, 19, addr(one), 4);
      return 'TCP_REPAIR accepted';
    } finally {
      closeSync(s);
    }
  }));
  out.push(attempt('nftables (libnftables)', 'the network lock during migration is unavailable (install Debian package libnftables1)', 'the network lock can be set in one transaction, in process', () => {
    const lib = koffi.load('libnftables.so.1');
    const ctxNew = lib.func('void *nft_ctx_new(uint32_t)');
    const ctxFree = lib.func('void nft_ctx_free(void *)');
    const ctx = ctxNew(0);
    if (!ctx) throw new Error('nft_ctx_new failed');
    ctxFree(ctx);
    return 'libnftables.so.1 loaded, a context created';
  }));
  out.push(attempt('namespaces', 'simulated hosts and restores into a fresh PID namespace are unavailable', 'hosts can be simulated; a tree can get a PID namespace of its own', () => {
    const kinds = ['net', 'pid', 'mnt', 'uts', 'ipc', 'user', 'time', 'cgroup'].filter((k) => existsSync(`/proc/self/ns/${k}`));
    const r = spawnSync('unshare', ['--net', '--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`unshare failed: ${(r.stderr || r.error?.message || '').trim()}`);
    return `${kinds.join(', ')}; unshare --net --pid --mount-proc works`;
  }));
  out.push(attempt('vDSO layout', 'restore cannot place the vDSO', 'the vDSO is put back where the process had it', () => {
    const names = readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => /\[(vvar|vvar_vclock|vdso)\]/.test(l))
      .map((l) => { const [r, , , , , n] = l.split(/\s+/); const [a, b] = r!.split('-').map((x) => parseInt(x, 16)); return `${n} ${(b! - a!) / PAGE_SIZE}p`; });
    if (!names.some((n) => n.startsWith('[vdso]'))) throw new Error('no [vdso] mapping');
    return names.join(', ');
  }));
  return out;
}

/** Just what dirty tracking needs, without the rest of the probes. */
export function probeTracking(): { uffd: boolean; softDirty: boolean; tracking: HostReport['tracking'] } {
  const uffd = probeUffd().ok && probePagemapScan().ok, softDirty = probeSoftDirty().ok;
  return { uffd, softDirty, tracking: uffd ? 'uffd' : softDirty ? 'soft-dirty' : 'hash' };
}

export function checkHost(): HostReport {
  const capEff = BigInt('0x' + (/^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'));
  const root = (capEff & ((1n << 19n) | (1n << 21n))) === ((1n << 19n) | (1n << 21n));
  const probes: Probe[] = [{
    name: 'root privileges', ok: root,
    detail: root ? 'CAP_SYS_ADMIN and CAP_SYS_PTRACE are effective' : `running as uid ${process.getuid?.()} without CAP_SYS_ADMIN/CAP_SYS_PTRACE`,
    consequence: root ? 'godwit can trace and rebuild any process' : 'godwit needs root: run it with sudo',
  }];
  const seed = probeSeed();
  probes.push(seed.ptrace, seed.clone3, ...probeSelf());
  const uffd = probeUffd(), scan = probePagemapScan(), soft = probeSoftDirty();
  probes.push(uffd, scan, soft);
  const tracking = uffd.ok && scan.ok ? 'uffd' : soft.ok ? 'soft-dirty' : 'hash';
  const ok = (n: string) => probes.find((p) => p.name === n)?.ok ?? false;
  return {
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), root, probes, tracking, xsaveSize: seed.xsave,
    canDump: root && ok('ptrace') && ok('process_vm_readv/writev'),
    canRestore: root && ok('ptrace') && ok('clone3 with set_tid') && ok('PR_SET_MM_MAP'),
  };
}

