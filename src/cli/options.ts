// Options several commands share, spelled once so that they read the same everywhere (CRIU's names).
import type { Options } from 'yargs';

export const treeOption: Options = { alias: 't', type: 'number', demandOption: true, describe: 'PID of the root of the tree' };

export function imagesDirOption(describe: string): Options {
  return { alias: 'D', type: 'string', demandOption: true, describe };
}

export function prevImagesDirOption(describe: string, demandOption = false): Options {
  return { type: 'string', demandOption, describe };
}

export { parseSize, parseBandwidth } from '../core/units.js';
