import { readFileSync } from 'node:fs';

/** The CPU's feature flags, as an image records them (a destination must offer every one). */
export function cpuFlags(): string[] {
  const m = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m ? m[1]!.split(/\s+/).sort() : [];
}
