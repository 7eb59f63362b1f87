// Preflight: before anything is frozen, ask both agents whether the move can work. The source
// surveys the tree (PIDs, files, memory, CPU state it may use); the destination says what of
// that it cannot offer; each host's probes say whether it can dump, track and restore at all.
// Any problem refuses the migration with its reasons; warnings go into the report.
import type { AgentClient } from '../pageserver/client.js';
import type { TreeSurvey } from '../core/survey/tree.js';
import type { Admission } from '../core/survey/admission.js';
import type { HostReport } from '../core/check.js';
import type { AddressAnswer } from '../agent/ops/address.js';
import { sameAddress, inNetwork, type Cidr, type IfAddress } from '../core/net/address.js';

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
  /** the tree's TCP connections, which move with it, and the local addresses its sockets use */
  tcp: { connections: number; addresses: string[] };
}

export interface PreflightOptions {
  newPidns?: boolean;
  /** into a new PID namespace only where some ID of the tree is taken on the destination */
  pidnsFallback?: boolean;
  /** addresses godwit moves from the source to the destination (`--move-ip`) */
  moveIps?: Cidr[];
  /** a pre-restore hook is given: it may bring the addresses the destination lacks */
  hookPreRestore?: boolean;
}

/** The report, and the tree's PIDs and thread IDs, which the destination holds from `expect` on. */
export async function preflight(src: AgentClient, dst: AgentClient, pid: number, o: PreflightOptions = {}): Promise<{ report: PreflightReport; ids: number[] }> {
  const [sCheck, dCheck, survey] = await Promise.all([
    src.call('check', {}) as Promise<HostReport>,
    dst.call('check', {}) as Promise<HostReport>,
    src.call('probe', { pid }) as Promise<TreeSurvey>,
  ]);
  const adm = (await dst.call('admit', { survey })) as Admission;
  // what the final dump would refuse, refused now: before anything is frozen
  const problems = [...(survey.refusals ?? []), ...adm.problems], warnings = [...adm.warnings];
  // what the operator should know before the move: these peers stay on the source (README, External peers)
  for (const e of survey.external ?? []) warnings.push(`${e} leads to a process outside the tree, which stays on the source: on the destination what the tree writes there is captured under the agent's state directory, what it reads from is held open`);
  const taken = adm.taken.length ? `PID${adm.taken.length > 1 ? 's' : ''} ${adm.taken.slice(0, 8).join(', ')}${adm.taken.length > 8 ? ` and ${adm.taken.length - 8} more` : ''} of the tree are taken on the destination` : '';
  if (o.newPidns || (o.pidnsFallback && taken)) {
    const ns = dCheck.probes.find((p) => p.id === 'namespaces');
    if (!ns?.ok) problems.push(`the destination cannot make PID namespaces (${ns?.detail ?? 'not probed'}), which ${o.newPidns ? '--new-pidns' : '--pidns-fallback'} needs`);
    warnings.push(`the tree is restored into a new PID namespace on the destination${taken ? ` (${taken}${o.newPidns ? '' : '; --pidns-fallback'})` : ''}: it keeps its PIDs there, and is known by others on the host`);
  } else if (taken) {
    problems.unshift(`${taken} (the tree needs its own PIDs: free them there, choose another destination, or restore into a new PID namespace with --new-pidns, or where needed with --pidns-fallback)`);
  }
  await checkNetwork(src, dst, survey, sCheck, dCheck, o, problems, warnings);
  if (!sCheck.canDump) problems.push(`the source cannot dump processes (missing: ${sCheck.missing.dump.join(', ')})`);
  if (!dCheck.canRestore) problems.push(`the destination cannot restore processes (missing: ${dCheck.missing.restore.join(', ')})`);
  if (src.peer.host.arch !== dst.peer.host.arch) problems.push(`the source is ${src.peer.host.arch}, the destination ${dst.peer.host.arch}`);
  if (sCheck.kernel !== dCheck.kernel) warnings.push(`the kernels differ (${sCheck.kernel} → ${dCheck.kernel})`);
  const precopy = sCheck.tracking === 'uffd';
  if (!precopy) warnings.push(`the source has no dirty tracking that lasts across links (${sCheck.tracking}): a stop-and-copy, with the whole memory moved while frozen`);
  const report: PreflightReport = {
    ok: problems.length === 0, problems, warnings,
    source: { host: src.peer.host.hostname, kernel: sCheck.kernel, tracking: sCheck.tracking },
    destination: { host: dst.peer.host.hostname, kernel: dCheck.kernel, freeMemoryBytes: adm.freeMemoryBytes, freeDiskBytes: adm.freeDiskBytes },
    tree: { root: survey.root, processes: survey.processes, threads: survey.threads, memoryBytes: survey.memoryBytes, files: survey.files.length },
    precopy, takenPids: adm.taken,
    tcp: { connections: survey.connections ?? 0, addresses: survey.addresses ?? [] },
  };
  return { report, ids: survey.ids };
}

/**
 * The tree's TCP sockets move with it: both hosts need TCP repair and nftables (the network
 * lock), every local address they use must be on the destination by the time the tree runs, and
 * a loopback connection to a process outside the tree cannot move (its peer stays behind).
 */
async function checkNetwork(
  src: AgentClient, dst: AgentClient, survey: TreeSurvey, sCheck: HostReport, dCheck: HostReport, o: PreflightOptions, problems: string[], warnings: string[],
): Promise<void> {
  const moves = o.moveIps ?? [];
  if (survey.connections) {
    for (const [side, rep] of [['source', sCheck], ['destination', dCheck]] as const) {
      for (const id of ['tcp_repair', 'nftables']) {
        const p = rep.probes.find((x) => x.id === id);
        if (!p?.ok) problems.push(`the ${side} cannot move the tree's ${survey.connections} TCP connection(s): ${p?.name ?? id}: ${p?.detail ?? 'not probed'}`);
      }
    }
  }
  if (survey.loopbackPeers?.length) {
    const l = survey.loopbackPeers;
    problems.push(`the tree has ${l.length} loopback connection(s) to processes outside it, which stay behind: ${l.slice(0, 4).join(', ')}${l.length > 4 ? ', ...' : ''}`);
  }
  const addresses = survey.addresses ?? [];
  if (!moves.length && !addresses.length) return;
  const list = async (c: AgentClient): Promise<IfAddress[]> => ((await c.call('address', { action: 'list' })) as AddressAnswer).addresses ?? [];
  const [have, there] = await Promise.all([list(src), list(dst)]);
  for (const m of moves) {
    const cidr = `${m.addr}/${m.prefix}`;
    const held = have.find((a) => sameAddress(a.addr, m.addr));
    if (!held) problems.push(`--move-ip ${cidr}: the source does not have ${m.addr}`);
    // the address moves as it is: a rollback puts back exactly what was taken
    else if (held.prefix !== m.prefix) problems.push(`--move-ip ${cidr}: the source holds it as ${held.addr}/${held.prefix}`);
    if (there.some((a) => sameAddress(a.addr, m.addr))) problems.push(`--move-ip ${cidr}: the destination already has ${m.addr}`);
    else if (!there.some((a) => inNetwork(m.addr, a))) problems.push(`--move-ip ${cidr}: no interface of the destination is on the network of ${m.addr}`);
  }
  for (const a of addresses) {
    if (there.some((x) => sameAddress(x.addr, a)) || moves.some((m) => sameAddress(m.addr, a))) continue;
    if (o.hookPreRestore) warnings.push(`the tree's TCP sockets use ${a}, which the destination does not have: the pre-restore hook must bring it there`);
    else problems.push(`the tree's TCP sockets use ${a}, which the destination does not have: move it with --move-ip ${a}/PREFIX, or give a --hook-pre-restore that brings it there`);
  }
}
