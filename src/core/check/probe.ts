// The shape of one `godwit check` probe, and the helpers every probe module shares. A probe never
// throws: whatever goes wrong becomes ok:false with the reason (errno included) in `detail`.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { SysError } from '../sys/libc.js';
import { errnoName } from '../sys/errno.js';

export interface Probe {
  /** stable machine name (JSON consumers key on it) */
  id: string;
  /** what people read */
  name: string;
  ok: boolean;
  /** what was found, or why it failed (with errno) */
  detail: string;
  /** what godwit can or cannot do because of it */
  consequence: string;
}

export interface ProbeSpec {
  id: string;
  name: string;
  /** consequence when the probe succeeds */
  yes: string;
  /** consequence when it fails */
  no: string;
  /** a hint added to the failure detail, by errno (SysError) */
  hint?: (errno: number) => string | undefined;
}

/** A probe that failed for a reason found without an exception. */
export class ProbeFailure extends Error {}

export function attempt(spec: ProbeSpec, f: () => string): Probe {
  const base = { id: spec.id, name: spec.name };
  try {
    return { ...base, ok: true, detail: f(), consequence: spec.yes };
  } catch (e) {
    let detail = e instanceof Error ? e.message : String(e);
    if (e instanceof SysError) {
      const h = spec.hint?.(e.errno) ?? commonHint(e.errno);
      if (h) detail += `: ${h}`;
    }
    return { ...base, ok: false, detail, consequence: spec.no };
  }
}

/** A probe that could not even be attempted because another one failed. */
export function skipped(spec: ProbeSpec, because: string): Probe {
  return { id: spec.id, name: spec.name, ok: false, detail: because, consequence: spec.no };
}

function commonHint(errno: number): string | undefined {
  if (errno === 1 || errno === 13) return 'not permitted (godwit needs root)';
  if (errno === 38) return 'the kernel does not implement it';
  return undefined;
}

/** errno name of a number, as the core's messages print it. */
export function errnoText(errno: number): string { return errnoName(errno); }

let config: Map<string, string> | null | undefined;

/**
 * A kernel build option from /proc/config.gz: 'y', 'm', a value, 'n' (explicitly not set), or
 * undefined when the kernel does not publish its configuration.
 */
export function kernelConfig(option: string): string | undefined {
  if (config === undefined) {
    try {
      config = new Map();
      for (const l of gunzipSync(readFileSync('/proc/config.gz')).toString('utf8').split('\n')) {
        let m = /^(CONFIG_\w+)=(.*)$/.exec(l);
        if (m) config.set(m[1]!, m[2]!);
        else if ((m = /^# (CONFIG_\w+) is not set$/.exec(l))) config.set(m[1]!, 'n');
      }
    } catch {
      config = null;
    }
  }
  return config?.get(option);
}
