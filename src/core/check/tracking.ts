// Dirty-page tracking for pre-copy: which backend this kernel supports.
// - uffd: userfaultfd write-protect in async mode (UFFD_FEATURE_WP_ASYNC) + the PAGEMAP_SCAN
//   ioctl (Linux 6.7+): exact, needs no soft-dirty;
// - soft-dirty: /proc/PID/clear_refs 4 + pagemap bit 55 (CONFIG_MEM_SOFT_DIRTY);
// - hash: content hashing of pages, works everywhere, costs CPU.
// Debian 12's headers predate PAGEMAP_SCAN and the newer UFFD feature bits: defined here.
import { openSync, closeSync, readSync, writeFileSync } from 'node:fs';
import koffi from 'koffi';
import { sys, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { localMmap, localMunmap, PROT, MAP, PAGE_SIZE } from '../sys/mman.js';
import { attempt, kernelConfig, ProbeFailure, type Probe, type ProbeSpec } from './probe.js';

export type TrackingBackend = 'uffd' | 'soft-dirty' | 'hash';

const O_CLOEXEC = 0o2000000, O_NONBLOCK = 0o4000, UFFD_USER_MODE_ONLY = 1;
const UFFD_API = 0xaan;
const UFFDIO_API = 0xc018aa3f; // _IOWR(0xAA, 0x3F, struct uffdio_api)
const UFFD_FEATURE_WP_UNPOPULATED = 1n << 13n, UFFD_FEATURE_WP_ASYNC = 1n << 15n;

const PAGEMAP_SCAN = 0xc0606610; // _IOWR('f', 16, struct pm_scan_arg), 96 bytes
const PAGE_IS_PRESENT = 1n << 3n;
const PM_SCAN_ARG_SIZE = 96, PAGE_REGION_SIZE = 24;

const PM_SOFT_DIRTY = 55n;

const UFFD: ProbeSpec = {
  id: 'uffd_wp_async', name: 'userfaultfd-wp async',
  yes: 'dirty pages can be tracked exactly from outside, without soft-dirty',
  no: 'pre-copy falls back to soft-dirty or hashing',
  hint: (e) => (e === 38 ? 'CONFIG_USERFAULTFD is not set' : e === 1 ? 'not permitted (vm.unprivileged_userfaultfd; godwit needs root)' : undefined),
};
const SCAN: ProbeSpec = {
  id: 'pagemap_scan', name: 'PAGEMAP_SCAN ioctl',
  yes: 'present and written pages are found in one call per range',
  no: 'no uffd tracking (it reads written pages with PAGEMAP_SCAN); page scans read /proc/PID/pagemap',
  hint: (e) => (e === 25 || e === 22 ? 'the kernel has no PAGEMAP_SCAN (Linux 6.7+)' : undefined),
};
const SOFT: ProbeSpec = {
  id: 'soft_dirty', name: 'soft-dirty bit',
  yes: 'dirty tracking can use soft-dirty (as CRIU does)',
  no: 'dirty tracking uses the uffd backend (or hashing)',
};

function ioctl(fd: number, name: string, req: number, arg: Buffer): number {
  return sys(`ioctl(${name})`, NR.ioctl, fd, req, addr(arg));
}

export function probeUffd(): Probe {
  return attempt(UFFD, () => {
    const fd = sys('userfaultfd(O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY)', NR.userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    try {
      const api = Buffer.alloc(24);
      api.writeBigUInt64LE(UFFD_API, 0);
      api.writeBigUInt64LE(0n, 8); // features 0: the kernel answers with all it has
      ioctl(fd, 'UFFDIO_API', UFFDIO_API, api);
      const f = api.readBigUInt64LE(8);
      const yn = (b: bigint) => ((f & b) !== 0n ? 'yes' : 'no');
      const text = `features 0x${f.toString(16)}: WP_ASYNC ${yn(UFFD_FEATURE_WP_ASYNC)}, WP_UNPOPULATED ${yn(UFFD_FEATURE_WP_UNPOPULATED)}`;
      if ((f & UFFD_FEATURE_WP_ASYNC) === 0n) {
        const marker = kernelConfig('CONFIG_PTE_MARKER_UFFD_WP');
        throw new ProbeFailure(`${text}${marker === 'n' ? ' (CONFIG_PTE_MARKER_UFFD_WP is not set)' : ''}`);
      }
      return text;
    } finally {
      closeSync(fd);
    }
  });
}

export function probePagemapScan(): Probe {
  return attempt(SCAN, () => {
    const pages = 4;
    const len = pages * PAGE_SIZE;
    const m = localMmap(len, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS);
    let fd = -1;
    try {
      fd = openSync('/proc/self/pagemap', 'r');
      Buffer.from(koffi.view(Number(m), len) as ArrayBuffer)[PAGE_SIZE] = 1; // only page 1 present
      const vec = Buffer.alloc(PAGE_REGION_SIZE * pages);
      const a = Buffer.alloc(PM_SCAN_ARG_SIZE);
      // size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
      // category_mask, category_anyof_mask, return_mask
      [BigInt(PM_SCAN_ARG_SIZE), 0n, m, m + BigInt(len), 0n, addr(vec), BigInt(pages), 0n, 0n, PAGE_IS_PRESENT, 0n, PAGE_IS_PRESENT]
        .forEach((v, i) => a.writeBigUInt64LE(v, i * 8));
      const n = ioctl(fd, 'PAGEMAP_SCAN', PAGEMAP_SCAN, a);
      const walkEnd = a.readBigUInt64LE(32);
      const start = vec.readBigUInt64LE(0), end = vec.readBigUInt64LE(8), cats = vec.readBigUInt64LE(16);
      if (n !== 1 || start !== m + BigInt(PAGE_SIZE) || end !== m + 2n * BigInt(PAGE_SIZE) || (cats & PAGE_IS_PRESENT) === 0n) {
        throw new ProbeFailure(`PAGEMAP_SCAN answered ${n} region(s), first ${start.toString(16)}-${end.toString(16)}; expected the one present page ${(m + BigInt(PAGE_SIZE)).toString(16)}`);
      }
      if (walkEnd !== m + BigInt(len)) throw new ProbeFailure(`PAGEMAP_SCAN stopped at ${walkEnd.toString(16)} before the end of a 4-page range`);
      return `ioctl 0x${PAGEMAP_SCAN.toString(16)} on /proc/self/pagemap found exactly the one present page (PAGE_IS_PRESENT) of a 4-page mapping`;
    } finally {
      if (fd >= 0) closeSync(fd);
      localMunmap(m, len);
    }
  });
}

function softDirtyBit(fd: number, page: bigint): boolean {
  const e = Buffer.alloc(8);
  if (readSync(fd, e, 0, 8, Number(page / BigInt(PAGE_SIZE)) * 8) !== 8) throw new ProbeFailure('short read of /proc/self/pagemap');
  return ((e.readBigUInt64LE(0) >> PM_SOFT_DIRTY) & 1n) === 1n;
}

/**
 * On ourselves: a freshly written page must carry bit 55; after `clear_refs 4` it must not; after
 * another write it must again.
 */
export function probeSoftDirty(): Probe {
  return attempt(SOFT, () => {
    const m = localMmap(PAGE_SIZE, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS);
    let fd = -1;
    try {
      fd = openSync('/proc/self/pagemap', 'r');
      const view = Buffer.from(koffi.view(Number(m), PAGE_SIZE) as ArrayBuffer);
      view[0] = 1;
      const fresh = softDirtyBit(fd, m);
      writeFileSync('/proc/self/clear_refs', '4');
      const cleared = softDirtyBit(fd, m);
      view[0] = 2;
      const again = softDirtyBit(fd, m);
      const seen = `bit 55: ${fresh ? 1 : 0} after a first write, ${cleared ? 1 : 0} after clear_refs 4, ${again ? 1 : 0} after a second write`;
      if (!fresh && !cleared && !again) {
        const cfg = kernelConfig('CONFIG_MEM_SOFT_DIRTY');
        throw new ProbeFailure(`absent: the kernel never sets the soft-dirty bit (${cfg === 'n' ? 'CONFIG_MEM_SOFT_DIRTY is not set, per /proc/config.gz' : 'CONFIG_MEM_SOFT_DIRTY is probably not set'})`);
      }
      if (cleared || !again) throw new ProbeFailure(`unreliable: ${seen}`);
      return seen;
    } finally {
      if (fd >= 0) closeSync(fd);
      localMunmap(m, PAGE_SIZE);
    }
  });
}

export function chooseBackend(uffd: Probe, scan: Probe, soft: Probe): TrackingBackend {
  return uffd.ok && scan.ok ? 'uffd' : soft.ok ? 'soft-dirty' : 'hash';
}

export interface TrackingSupport { uffd: boolean; softDirty: boolean; tracking: TrackingBackend }

let cached: TrackingSupport | undefined;

/** Just what dirty tracking needs, without the other probes; probed once per process. */
export function probeTracking(): TrackingSupport {
  if (!cached) {
    const uffd = probeUffd(), scan = probePagemapScan(), soft = probeSoftDirty();
    cached = { uffd: uffd.ok && scan.ok, softDirty: soft.ok, tracking: chooseBackend(uffd, scan, soft) };
  }
  return cached;
}
