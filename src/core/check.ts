// What this host's kernel lets godwit do, probed for real at run time (`godwit check`). Each probe
// says what it found and what follows for godwit; a failing probe never throws. The probes live
// in check/, one module per area; this file runs them in order and draws the conclusions: which
// dirty-tracking backend pre-copy uses, and whether this host can dump and restore at all.
import { readFileSync } from 'node:fs';
import { logger } from './log.js';
import type { Probe } from './check/probe.js';
import { privileges, probePrivileges } from './check/privileges.js';
import { probeProcesses, type CpuInfo } from './check/process.js';
import { probePidfdGetfd, probeKcmp, probeMapFiles } from './check/files.js';
import { probeProcessVm, probeSetMmMap, probeVdso } from './check/memory.js';
import { probeUffd, probePagemapScan, probeSoftDirty, chooseBackend, type TrackingBackend } from './check/tracking.js';
import { probeTcpRepair, probeNftables } from './check/network.js';
import { probeNamespaces } from './check/namespaces.js';

export type { Probe } from './check/probe.js';
export type { CpuInfo } from './check/process.js';
export { probeTracking, type TrackingBackend, type TrackingSupport } from './check/tracking.js';

export interface HostReport {
  kernel: string;
  /** euid 0 with CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_NET_ADMIN effective */
  root: boolean;
  cpu: CpuInfo;
  /** NT_X86_XSTATE size from the kernel (0 when ptrace failed); the same as cpu.xsaveSize */
  xsaveSize: number;
  pidMax: number;
  probes: Probe[];
  /** the dirty-page tracking backend pre-copy uses here */
  tracking: TrackingBackend;
  canDump: boolean;
  canRestore: boolean;
  /** ids of the failed probes that stop dump / restore */
  missing: { dump: string[]; restore: string[] };
  /** one or two sentences for people */
  summary: string;
}

/** Probes without which no ordinary process can be dumped / restored. */
export const NEEDED_FOR_DUMP = ['root', 'ptrace', 'xsave', 'pidfd_getfd', 'process_vm', 'kcmp'] as const;
export const NEEDED_FOR_RESTORE = ['root', 'ptrace', 'xsave', 'clone3_set_tid', 'pr_set_mm_map', 'vdso'] as const;

const log = logger('check');

function kernelRelease(): string {
  try { return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(); } catch { return 'unknown'; }
}

export function checkHost(): HostReport {
  const priv = privileges();
  const root = probePrivileges(priv);
  const proc = probeProcesses();
  const uffd = probeUffd(), scan = probePagemapScan(), soft = probeSoftDirty();
  const probes: Probe[] = [
    root, proc.ptrace, proc.xsave, proc.clone3, probePidfdGetfd(), probeProcessVm(),
    uffd, scan, soft,
    probeTcpRepair(), probeNftables(), probeNamespaces(),
    probeSetMmMap(), probeMapFiles(), probeKcmp(), probeVdso(),
  ];
  for (const p of probes) log.debug({ probe: p.id, ok: p.ok, detail: p.detail }, 'check');
  const ok = (id: string) => probes.find((p) => p.id === id)?.ok ?? false;
  // the core's own gate (privileges.ts) asks for CAP_SYS_ADMIN + CAP_SYS_PTRACE; godwit as a
  // whole asks for root, which `root` reports
  const failed = (ids: readonly string[]) => ids.filter((id) => (id === 'root' ? !priv.canTrace : !ok(id)));
  const missing = { dump: failed(NEEDED_FOR_DUMP), restore: failed(NEEDED_FOR_RESTORE) };
  const canDump = missing.dump.length === 0, canRestore = missing.restore.length === 0;
  const tracking = chooseBackend(uffd, scan, soft);
  const name = (id: string) => probes.find((p) => p.id === id)?.name ?? id;
  const summary = [
    root.ok ? '' : `godwit needs root: this check ran as uid ${priv.uid} (euid ${priv.euid})` +
      `${priv.missing.length ? ` without ${priv.missing.join(', ')}` : ''}, so the probes that need privileges failed; run it as root (e.g. sudo godwit check).`,
    canDump && canRestore
      ? 'This host can dump and restore processes.'
      : `This host cannot ${[canDump ? '' : 'dump', canRestore ? '' : 'restore'].filter(Boolean).join(' or ')} processes` +
        ` (missing: ${[...new Set([...missing.dump, ...missing.restore])].map(name).join(', ')}).`,
    `Pre-copy dirty tracking: ${tracking}.`,
  ].filter(Boolean).join(' ');
  return {
    kernel: kernelRelease(), root: root.ok, cpu: proc.cpu, xsaveSize: proc.cpu.xsaveSize, pidMax: proc.pidMax,
    probes, tracking, canDump, canRestore, missing, summary,
  };
}
