// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, shared across fork): one object per shmem
// inode. Its pages are read once, from the first process that maps it, over the object's data
// extents (SEEK_DATA/SEEK_HOLE on /proc/PID/map_files), so pages that only another process
// touched are not missed. On restore the first process creates it and the others map it through
// that process's /proc/PID/map_files entry.
import { openSync, closeSync } from 'node:fs';
import { sysTry } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { PAGE_SIZE } from '../sys/mman.js';
import type { ProcVma } from '../proc/smaps.js';
import type { ShmemObject, VmaEntry } from '../image/format.js';
import type { PageWriter } from '../image/page-streams.js';
import type { PageRun } from '../image/page-copy.js';

const SEEK_DATA = 3, SEEK_HOLE = 4;

export class ShmemDumper {
  readonly objects: ShmemObject[] = [];
  private byIno = new Map<number, ShmemObject>();

  constructor(private pages: PageWriter) {}

  /** Tag the VMA with its object; the first process to map an object has its pages saved. */
  async add(pid: number, v: ProcVma, e: VmaEntry): Promise<void> {
    let o = this.byIno.get(v.inode);
    if (o) { e.shmemId = o.id; return; }
    o = { id: this.objects.length + 1, ino: v.inode, size: v.end - v.start + v.offset, owner: pid, segments: [] };
    this.objects.push(o);
    this.byIno.set(v.inode, o);
    e.shmemId = o.id;
    o.segments = await this.pages.write(`shmem-${o.id}`, pid, dataRuns(pid, v).map((r) => ({ ...r, force: !v.read })), false);
  }
}

/** Data extents of the object that fall inside this VMA, as page runs at the VMA's addresses. */
function dataRuns(pid: number, v: ProcVma): PageRun[] {
  const fd = openSync(`/proc/${pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`, 'r');
  const runs: PageRun[] = [];
  try {
    const lo = v.offset, hi = v.offset + (v.end - v.start);
    for (let pos = lo; pos < hi; ) {
      const data = sysTry(NR.lseek, fd, pos, SEEK_DATA);
      if (data < 0 || data >= hi) break;
      let hole = sysTry(NR.lseek, fd, data, SEEK_HOLE);
      if (hole < 0 || hole > hi) hole = hi;
      const s = Math.floor(data / PAGE_SIZE) * PAGE_SIZE, e = Math.ceil(hole / PAGE_SIZE) * PAGE_SIZE;
      runs.push({ start: v.start + (s - lo), pages: (e - s) / PAGE_SIZE });
      pos = e;
    }
  } finally {
    closeSync(fd);
  }
  return runs;
}
