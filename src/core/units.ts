// Sizes and rates as operators write them, read the same by the command line and the
// coordinator's API (both sit above the core).
import { GodwitError } from './errors.js';

/** 512M, 2G, 64MiB, 1048576: a size in bytes (K, M, G are powers of 1024, as for memory). */
export function parseSize(option: string, s: string, min: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)?(?:i?b)?$/i.exec(s.trim());
  const v = m ? Math.round(Number(m[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[(m[2] ?? '').toLowerCase()]!) : NaN;
  if (!(v >= min) && !(v === 0 && min === 0)) throw new GodwitError(`--${option} ${s}: give a size such as 512M or 2G${min ? `, at least ${min / 1024 ** 2} MiB` : ''}`, 2);
  return v;
}

/** 100M, 1.5G, 250MB/s, 80MiB: bytes per second (K/M/G are powers of 1000, Ki/Mi/Gi of 1024). */
export function parseBandwidth(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g|ki|mi|gi)?b?(?:\/s)?$/i.exec(s.trim());
  if (!m) throw new GodwitError(`--bandwidth ${s}: give bytes per second, e.g. 200M or 1G (MB/s, GB/s)`, 2);
  const unit = (m[2] ?? '').toLowerCase();
  const mult: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 };
  const v = Math.round(Number(m[1]) * mult[unit]!);
  if (v < 1e5) throw new GodwitError(`--bandwidth ${s}: at least 100K per second`, 2);
  return v;
}
