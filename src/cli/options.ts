// Options several commands share, spelled once so that they read the same everywhere (CRIU's names).
import type { Options } from 'yargs';
import { GodwitError } from '../core/errors.js';

export const treeOption: Options = { alias: 't', type: 'number', demandOption: true, describe: 'PID of the root of the tree' };

export function imagesDirOption(describe: string): Options {
  return { alias: 'D', type: 'string', demandOption: true, describe };
}

export function prevImagesDirOption(describe: string, demandOption = false): Options {
  return { type: 'string', demandOption, describe };
}

/** 512M, 2G, 64MiB, 1048576: a size in bytes (K, M, G are powers of 1024, as for memory). */
export function parseSize(option: string, s: string, min: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)?(?:i?b)?$/i.exec(s.trim());
  const v = m ? Math.round(Number(m[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[(m[2] ?? '').toLowerCase()]!) : NaN;
  if (!(v >= min) && !(v === 0 && min === 0)) throw new GodwitError(`--${option} ${s}: give a size such as 512M or 2G${min ? `, at least ${min / 1024 ** 2} MiB` : ''}`, 2);
  return v;
}
