// userfaultfd write-protect in async mode + PAGEMAP_SCAN: exact dirty pages without soft-dirty.
// The userfaultfd is created inside the target by a remote syscall (it must belong to the
// target's mm), taken into the agent with pidfd_getfd and closed in the target: only the agent
// holds it. If the agent dies, the kernel drops the registration and the write-protection with
// it, so a tracked process is never left slowed down.
import { openSync, closeSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { FdSender } from '../../files/transfer.js';
import { sysTry, addr } from '../../sys/libc.js';
import { NR } from '../../sys/nr.js';
import { pidfdOpen, pidfdGetfd, close } from '../../sys/process.js';
import { PAGE_SIZE } from '../../sys/mman.js';
import type { Injection } from '../../ptrace/inject.js';
import type { PageRun } from '../../image/page-copy.js';
import type { DirtyTracker } from './tracker.js';
import { trackable, key, append, isFilePrivate } from './ranges.js';
import { scanPages, pagemapBuffer } from '../pagemap.js';
import { pageScan, PAGE_IS, PM_SCAN } from '../pagescan.js';
import { GodwitError } from '../../errors.js';
import { logger } from '../../log.js';

const UFFD_USER_MODE_ONLY = 1, O_CLOEXEC = 0o2000000, O_NONBLOCK = 0o4000;
const UFFDIO_API = 0xc018aa3f, UFFDIO_REGISTER = 0xc020aa00, UFFDIO_UNREGISTER = 0x8010aa01, UFFDIO_WRITEPROTECT = 0xc018aa06;
const UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1n << 12n, UFFD_FEATURE_WP_UNPOPULATED = 1n << 13n, UFFD_FEATURE_WP_ASYNC = 1n << 15n;
const REGISTER_MODE_WP = 2n, WRITEPROTECT_MODE_WP = 1n;

function ioctl(fd: number, req: number, arg: Buffer, what: string): void {
  const r = sysTry(NR.ioctl, fd, req, addr(arg));
  if (r < 0) throw new GodwitError(`${what} failed: errno ${-r}`);
}

export class UffdTracker implements DirtyTracker {
  readonly backend = 'uffd' as const;
  private uffd = -1;
  private pagemap: number;
  lastAdded: Array<[number, number]> = [];
  lastZero: PageRun[] = [];

  private constructor(readonly pid: number, uffdFd: number) {
    this.uffd = uffdFd;
    this.pagemap = openSync(`/proc/${pid}/pagemap`, 'r');
  }

  /** Arm tracking; `inj` drives the (frozen) target for the one remote syscall. */
  static arm(inj: Injection): UffdTracker {
    const fdInTarget = inj.call('userfaultfd', NR.userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    const uffd = takeFd(inj, fdInTarget);
    const api = Buffer.alloc(24);
    api.writeBigUInt64LE(0xaan, 0);
    api.writeBigUInt64LE(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_HUGETLBFS_SHMEM, 8);
    ioctl(uffd, UFFDIO_API, api, 'UFFDIO_API');
    const t = new UffdTracker(inj.pid, uffd);
    // armed now, not at the first collect: writes from here on are caught
    t.armed = t.collect();
    t.firstAdded = t.lastAdded;
    return t;
  }

  /** What was present when tracking was armed: the first collect() reports it too. */
  private armed: PageRun[] = [];

  /**
   * Take back a tracker parked in the target by an earlier pre-dump (see park): the pages written
   * since are reported by the next collect(). What it tracks lives in the kernel, not here.
   */
  static adopt(inj: Injection, parkedFd: number): UffdTracker {
    return new UffdTracker(inj.pid, takeFd(inj, parkedFd));
  }

  /**
   * Stop trackers that a godwit which died (an agent killed between or during links) left parked
   * in the process: userfaultfds at the parking numbers near the top of its fd limit. Without
   * this the process could never be tracked again (a mapping takes one userfaultfd only).
   */
  static reclaimStale(inj: Injection): number {
    const top = fdTop(inj.pid);
    let n = 0;
    for (const f of readdirSync(`/proc/${inj.pid}/fd`).map(Number).filter((x) => x >= top - 64)) {
      let link = '';
      try { link = readlinkSync(`/proc/${inj.pid}/fd/${f}`); } catch { continue; }
      if (!link.includes('[userfaultfd]')) continue;
      UffdTracker.adopt(inj, f).stop();
      n++;
    }
    return n;
  }

  /**
   * Between two runs of godwit, the userfaultfd has to live somewhere: it is handed to the target
   * itself, at a high fd number with close-on-exec, and taken back by the next pre-dump or the
   * dump. Returns that fd number. The agent's own copy is closed.
   */
  park(inj: Injection, sender: FdSender): number {
    const target = parkingFd(inj.pid);
    sender.install(inj, [{ agentFd: this.uffd, target, cloexec: true }]);
    closeSync(this.pagemap);
    close(this.uffd);
    this.uffd = -1;
    return target;
  }

  /**
   * Every mapping is scanned as it is now. The kernel knows which are ours: a scan with
   * CHECK_WPASYNC is refused on a mapping not registered with this userfaultfd. Such a mapping is
   * new (or was moved, or made again where another was: mremap and munmap drop the registration),
   * so it is registered, protected, and reported whole. A registered mapping reports the pages
   * written since its last scan, including pages it grew by in place.
   */
  collect(): PageRun[] {
    const out: PageRun[] = this.armed;
    this.armed = [];
    const fresh = this.firstAdded;
    this.firstAdded = [];
    this.lastAdded = fresh;
    const zero: PageRun[] = [];
    const buf = pagemapBuffer();
    for (const v of trackable(this.pid)) {
      if (this.scan(v.start, v.end, !v.shared && !isFilePrivate(v), out, zero)) continue;
      const r = Buffer.alloc(32);
      r.writeBigUInt64LE(BigInt(v.start), 0);
      r.writeBigUInt64LE(BigInt(v.end - v.start), 8);
      r.writeBigUInt64LE(REGISTER_MODE_WP, 16);
      const rr = sysTry(NR.ioctl, this.uffd, UFFDIO_REGISTER, addr(r));
      if (rr === 0) {
        const wp = Buffer.alloc(24);
        wp.writeBigUInt64LE(BigInt(v.start), 0);
        wp.writeBigUInt64LE(BigInt(v.end - v.start), 8);
        wp.writeBigUInt64LE(WRITEPROTECT_MODE_WP, 16);
        ioctl(this.uffd, UFFDIO_WRITEPROTECT, wp, 'UFFDIO_WRITEPROTECT');
      } else {
        // it cannot be tracked: it is taken whole every time, which is never wrong
        logger('track').debug({ pid: this.pid, range: key(v), name: v.name, errno: -rr }, 'cannot register');
      }
      // of a private file mapping, only the pages it wrote: the rest comes from the file
      append(out, scanPages(this.pagemap, v.start, v.end, isFilePrivate(v), buf));
      this.lastAdded.push([v.start, v.end]);
    }
    this.lastZero = merge(zero);
    return merge(out);
  }

  private firstAdded: Array<[number, number]> = [];

  /**
   * PAGEMAP_SCAN: written pages in [start, end), write-protected again in the same walk. Of
   * private anonymous memory (`anon`), a written page that now has no page (MADV_DONTNEED) or is
   * the shared zero page reads zero: it goes to `zero`, not to be read, and the image says so,
   * over whatever an older link held there. Elsewhere such a page comes back from the file or
   * the shared object, so it is read like the others.
   */
  private scan(start: number, end: number, anon: boolean, out: PageRun[], zero: PageRun[]): boolean {
    const err = pageScan(this.pagemap, start, end, {
      flags: PM_SCAN.WP_MATCHING | PM_SCAN.CHECK_WPASYNC, mask: PAGE_IS.WRITTEN,
      ret: PAGE_IS.WRITTEN | (anon ? PAGE_IS.PRESENT | PAGE_IS.SWAPPED | PAGE_IS.PFNZERO : 0),
    }, (s, e, cat) => {
      const isZero = anon && ((cat & PAGE_IS.PFNZERO) !== 0 || (cat & (PAGE_IS.PRESENT | PAGE_IS.SWAPPED)) === 0);
      (isZero ? zero : out).push({ start: s, pages: (e - s) / PAGE_SIZE });
    });
    return err === 0;
  }

  stop(): void {
    if (this.uffd < 0) return;
    for (const v of trackable(this.pid)) {
      const r = Buffer.alloc(16);
      r.writeBigUInt64LE(BigInt(v.start), 0);
      r.writeBigUInt64LE(BigInt(v.end - v.start), 8);
      sysTry(NR.ioctl, this.uffd, UFFDIO_UNREGISTER, addr(r));
    }
    this.release();
  }

  /** Our fds only: once the process is gone, its registrations went with its memory. */
  release(): void {
    if (this.uffd < 0) return;
    closeSync(this.pagemap);
    close(this.uffd);
    this.uffd = -1;
  }
}

/** Move an fd of the target into the agent and close it in the target. */
function takeFd(inj: Injection, fdInTarget: number): number {
  const pidfd = pidfdOpen(inj.pid);
  try {
    return pidfdGetfd(pidfd, fdInTarget);
  } finally {
    close(pidfd);
    inj.call('close', NR.close, fdInTarget);
  }
}

/** A free fd number near the top of the target's limit, out of the program's way. */
function fdTop(pid: number): number {
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1];
  return Math.min(soft && soft !== 'unlimited' ? Number(soft) : 1024, 65536) - 1;
}

function parkingFd(pid: number): number {
  const top = fdTop(pid);
  const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  // one below the top: the transfer socket needs the number above the one it fills
  for (let fd = top - 1; fd > 2; fd--) if (!used.has(fd) && !used.has(fd + 1)) return fd;
  throw new GodwitError(`process ${pid} has no free fd to hold the dirty tracker between pre-dumps`);
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

