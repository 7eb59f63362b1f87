// timerfd: clock, remaining time and interval from fdinfo; expirations not yet read are put back
// with TFD_IOC_SET_TICKS, so a reader sees the same count it would have seen.
import { sys, addr } from '../sys/libc.js';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry } from '../image/format.js';
import { O } from './flags.js';

const NR_TIMERFD_CREATE = 283, NR_TIMERFD_SETTIME = 286, NR_IOCTL = 16;
const TFD_IOC_SET_TICKS = 0x40085400;

function pair(s: string | undefined): [number, number] {
  const m = /\((\d+),\s*(\d+)\)/.exec(s ?? '');
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export function dumpTimerfd(id: number, fd: ProcFd): FileEntry {
  return {
    id, kind: 'timerfd', flags: fd.flags, clockid: Number(fd.info.get('clockid') ?? 1),
    ticks: fd.info.get('ticks') ?? '0', value: pair(fd.info.get('it_value')), interval: pair(fd.info.get('it_interval')),
  };
}

export function openTimerfd(e: Extract<FileEntry, { kind: 'timerfd' }>): number {
  const fd = sys('timerfd_create', NR_TIMERFD_CREATE, e.clockid, O.CLOEXEC | (e.flags & O.NONBLOCK));
  // fdinfo shows the time left, so the timer is set relative even if it was absolute
  const its = Buffer.alloc(32);
  its.writeBigInt64LE(BigInt(e.interval[0]), 0); its.writeBigInt64LE(BigInt(e.interval[1]), 8);
  its.writeBigInt64LE(BigInt(e.value[0]), 16); its.writeBigInt64LE(BigInt(e.value[1]), 24);
  sys('timerfd_settime', NR_TIMERFD_SETTIME, fd, 0, addr(its), 0);
  const ticks = BigInt(e.ticks);
  if (ticks > 0n) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(ticks, 0);
    sys('ioctl(TFD_IOC_SET_TICKS)', NR_IOCTL, fd, TFD_IOC_SET_TICKS, addr(b));
  }
  return fd;
}
