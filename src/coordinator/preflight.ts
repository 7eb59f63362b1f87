// Preflight: before anything is frozen, ask both agents whether the move can work. The source
// surveys the tree (PIDs, files, memory, CPU state it may use); the destination says what of
// that it cannot offer; each host's probes say whether it can dump, track and restore at all.
// Any problem refuses the migration with its reasons; warnings go into the report.
import type { AgentClient } from '../pageserver/client.js';
import type { TreeSurvey } from '../core/survey/tree.js';
import type { Admission } from '../core/survey/admission.js';
import type { HostReport } from '../core/check.js';

export interface PreflightReport {
  ok: boolean;
  problems: string[];
  warnings: string[];
  source: { host: string; kernel: string; tracking: string };
  destination: { host: string; kernel: string; freeMemoryBytes: number; freeDiskBytes: number };
  tree: { root: number; processes: number; threads: number; memoryBytes: number; files: number };
  /** pre-copy is possible (dirty tracking on the source); otherwise a stop-and-copy */
  precopy: boolean;
  takenPids: number[];
}

export async function preflight(src: AgentClient, dst: AgentClient, pid: number, o: { newPidns?: boolean } = {}): Promise<PreflightReport> {
  const [sCheck, dCheck, survey] = await Promise.all([
    src.call('check', {}) as Promise<HostReport>,
    dst.call('check', {}) as Promise<HostReport>,
    src.call('probe', { pid }) as Promise<TreeSurvey>,
  ]);
  const adm = (await dst.call('admit', { survey })) as Admission;
  const problems = [...adm.problems], warnings = [...adm.warnings];
  const taken = adm.taken.length ? `PID${adm.taken.length > 1 ? 's' : ''} ${adm.taken.slice(0, 8).join(', ')}${adm.taken.length > 8 ? ` and ${adm.taken.length - 8} more` : ''} of the tree are taken on the destination` : '';
  if (o.newPidns) {
    const ns = dCheck.probes.find((p) => p.id === 'namespaces');
    if (!ns?.ok) problems.push(`the destination cannot make PID namespaces (${ns?.detail ?? 'not probed'}), which --new-pidns needs`);
    warnings.push(`the tree is restored into a new PID namespace on the destination${taken ? ` (${taken})` : ''}: it keeps its PIDs there, and is known by others on the host`);
  } else if (taken) {
    problems.unshift(`${taken} (the tree needs its own PIDs: free them there, choose another destination, or restore into a new PID namespace with --new-pidns)`);
  }
  if (survey.connections) {
    problems.push(`the tree has ${survey.connections} established TCP connection(s), which godwit migrate does not carry yet (godwit dump --tcp-established and restore move them on one host)`);
  }
  if (!sCheck.canDump) problems.push(`the source cannot dump processes (missing: ${sCheck.missing.dump.join(', ')})`);
  if (!dCheck.canRestore) problems.push(`the destination cannot restore processes (missing: ${dCheck.missing.restore.join(', ')})`);
  if (src.peer.host.arch !== dst.peer.host.arch) problems.push(`the source is ${src.peer.host.arch}, the destination ${dst.peer.host.arch}`);
  if (sCheck.kernel !== dCheck.kernel) warnings.push(`the kernels differ (${sCheck.kernel} → ${dCheck.kernel})`);
  const precopy = sCheck.tracking === 'uffd';
  if (!precopy) warnings.push(`the source has no dirty tracking that lasts across links (${sCheck.tracking}): a stop-and-copy, with the whole memory moved while frozen`);
  return {
    ok: problems.length === 0, problems, warnings,
    source: { host: src.peer.host.hostname, kernel: sCheck.kernel, tracking: sCheck.tracking },
    destination: { host: dst.peer.host.hostname, kernel: dCheck.kernel, freeMemoryBytes: adm.freeMemoryBytes, freeDiskBytes: adm.freeDiskBytes },
    tree: { root: survey.root, processes: survey.processes, threads: survey.threads, memoryBytes: survey.memoryBytes, files: survey.files.length },
    precopy, takenPids: adm.taken,
  };
}
