// userfaultfd write-protect in async mode + PAGEMAP_SCAN: exact dirty pages without soft-dirty.
// The userfaultfd is created inside the target by a remote syscall (it must belong to the
// target's mm), taken into the agent with pidfd_getfd and closed in the target: only the agent
// holds it. If the agent dies, the kernel drops the registration and the write-protection with
// it, so a tracked process is never left slowed down.
import { openSync, closeSync } from 'node:fs';
import { sysTry, addr } from '../../sys/libc.js';
import { NR } from '../../sys/nr.js';
import { pidfdOpen, pidfdGetfd, close } from '../../sys/process.js';
import { PAGE_SIZE } from '../../sys/mman.js';
import type { Injection } from '../../ptrace/inject.js';
import type { PageRun } from '../../image/page-copy.js';
import type { ProcVma } from '../../proc/smaps.js';
import type { DirtyTracker } from './tracker.js';
import { trackable, diffRanges, key } from './ranges.js';
import { scanPages, pagemapBuffer } from '../pagemap.js';
import { GodwitError } from '../../errors.js';

const UFFD_USER_MODE_ONLY = 1, O_CLOEXEC = 0o2000000, O_NONBLOCK = 0o4000;
const UFFDIO_API = 0xc018aa3f, UFFDIO_REGISTER = 0xc020aa00, UFFDIO_UNREGISTER = 0x8010aa01, UFFDIO_WRITEPROTECT = 0xc018aa06;
const UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1n << 12n, UFFD_FEATURE_WP_UNPOPULATED = 1n << 13n, UFFD_FEATURE_WP_ASYNC = 1n << 15n;
const REGISTER_MODE_WP = 2n, WRITEPROTECT_MODE_WP = 1n;
const PAGEMAP_SCAN = 0xc0606610, PM_SCAN_WP_MATCHING = 1n, PM_SCAN_CHECK_WPASYNC = 2n, PAGE_IS_WRITTEN = 1n << 1n;
const VEC = 4096; // page_region entries per PAGEMAP_SCAN call

function ioctl(fd: number, req: number, arg: Buffer, what: string): void {
  const r = sysTry(NR.ioctl, fd, req, addr(arg));
  if (r < 0) throw new GodwitError(`${what} failed: errno ${-r}`);
}

export class UffdTracker implements DirtyTracker {
  readonly backend = 'uffd' as const;
  private uffd: number;
  private pagemap: number;
  private ranges = new Map<string, ProcVma>();
  private pending: PageRun[] = [];
  private vec = Buffer.alloc(24 * VEC);
  private arg = Buffer.alloc(96);

  /** Arm tracking; `inj` drives the (frozen) target for the one remote syscall. */
  constructor(inj: Injection) {
    this.pid = inj.pid;
    const fdInTarget = inj.call('userfaultfd', NR.userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    const pidfd = pidfdOpen(inj.pid);
    try {
      this.uffd = pidfdGetfd(pidfd, fdInTarget);
    } finally {
      close(pidfd);
      inj.call('close', NR.close, fdInTarget);
    }
    const api = Buffer.alloc(24);
    api.writeBigUInt64LE(0xaan, 0);
    api.writeBigUInt64LE(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_HUGETLBFS_SHMEM, 8);
    ioctl(this.uffd, UFFDIO_API, api, 'UFFDIO_API');
    this.pagemap = openSync(`/proc/${this.pid}/pagemap`, 'r');
    this.follow();
  }
  readonly pid: number;

  /** Register and protect mappings not seen before; they count as wholly dirty. */
  private follow(): void {
    const now = trackable(this.pid);
    const { added } = diffRanges(this.ranges, now);
    this.ranges = new Map(now.map((v) => [key(v), v]));
    const buf = pagemapBuffer();
    for (const v of added) {
      const r = Buffer.alloc(32);
      r.writeBigUInt64LE(BigInt(v.start), 0);
      r.writeBigUInt64LE(BigInt(v.end - v.start), 8);
      r.writeBigUInt64LE(REGISTER_MODE_WP, 16);
      // a mapping may have been registered before under another shape: registering again is fine
      if (sysTry(NR.ioctl, this.uffd, UFFDIO_REGISTER, addr(r)) < 0) continue;
      const wp = Buffer.alloc(24);
      wp.writeBigUInt64LE(BigInt(v.start), 0);
      wp.writeBigUInt64LE(BigInt(v.end - v.start), 8);
      wp.writeBigUInt64LE(WRITEPROTECT_MODE_WP, 16);
      ioctl(this.uffd, UFFDIO_WRITEPROTECT, wp, 'UFFDIO_WRITEPROTECT');
      this.pending.push(...scanPages(this.pagemap, v.start, v.end, false, buf));
    }
  }

  collect(): PageRun[] {
    const out: PageRun[] = [];
    for (const v of this.ranges.values()) this.scan(v.start, v.end, out);
    const fresh = this.pending;
    this.pending = [];
    this.follow();
    return merge([...fresh, ...out, ...this.pending.splice(0)]);
  }

  /** PAGEMAP_SCAN: written pages in [start, end), write-protected again in the same walk. */
  private scan(start: number, end: number, out: PageRun[]): void {
    for (let at = start; at < end; ) {
      const a = this.arg;
      [96n, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, BigInt(at), BigInt(end), 0n, addr(this.vec), BigInt(VEC), 0n, 0n,
        PAGE_IS_WRITTEN, 0n, PAGE_IS_WRITTEN].forEach((x, i) => a.writeBigUInt64LE(x, i * 8));
      const n = sysTry(NR.ioctl, this.pagemap, PAGEMAP_SCAN, addr(a));
      if (n < 0) return; // the mapping went away or changed under us: follow() will see it
      for (let i = 0; i < n; i++) {
        const s = Number(this.vec.readBigUInt64LE(i * 24)), e = Number(this.vec.readBigUInt64LE(i * 24 + 8));
        out.push({ start: s, pages: (e - s) / PAGE_SIZE });
      }
      const walkEnd = Number(a.readBigUInt64LE(32));
      // one call may stop early with room left: go on from where it stopped
      if (walkEnd <= at) return;
      at = walkEnd;
    }
  }

  stop(): void {
    for (const v of this.ranges.values()) {
      const r = Buffer.alloc(16);
      r.writeBigUInt64LE(BigInt(v.start), 0);
      r.writeBigUInt64LE(BigInt(v.end - v.start), 8);
      sysTry(NR.ioctl, this.uffd, UFFDIO_UNREGISTER, addr(r));
    }
    closeSync(this.pagemap);
    close(this.uffd);
    this.ranges.clear();
  }
}

/** Sorted runs, adjacent and overlapping ones joined. */
export function merge(runs: PageRun[]): PageRun[] {
  const s = [...runs].sort((a, b) => a.start - b.start);
  const out: PageRun[] = [];
  for (const r of s) {
    const last = out[out.length - 1];
    if (last && r.start <= last.start + last.pages * PAGE_SIZE) {
      const end = Math.max(last.start + last.pages * PAGE_SIZE, r.start + r.pages * PAGE_SIZE);
      last.pages = (end - last.start) / PAGE_SIZE;
    } else {
      out.push({ start: r.start, pages: r.pages });
    }
  }
  return out;
}

