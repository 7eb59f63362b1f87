// Identity and limits: uids/gids/groups, capabilities, rlimits, umask, personality, and the prctl
// flags a process can carry (dumpable, parent-death signal, child subreaper, no_new_privs).
import { NR } from '../sys/nr.js';
import { prlimit, capget, RLIMIT_NLIMITS } from '../sys/process.js';
import type { ProcStatus } from '../proc/status.js';
import type { Injection } from '../ptrace/inject.js';
import type { Creds, ProcessCore } from '../image/format.js';

const PR_GET_PDEATHSIG = 2, PR_SET_PDEATHSIG = 1, PR_GET_DUMPABLE = 3, PR_SET_DUMPABLE = 4;
const PR_GET_CHILD_SUBREAPER = 37, PR_SET_CHILD_SUBREAPER = 36, PR_GET_NO_NEW_PRIVS = 39, PR_SET_NO_NEW_PRIVS = 38;

export function dumpCreds(pid: number, st: ProcStatus): Creds {
  const caps = capget(pid);
  return {
    uid: st.uid, gid: st.gid, groups: st.groups,
    capEff: caps.eff.toString(16), capPrm: caps.prm.toString(16), capInh: caps.inh.toString(16),
  };
}

/** Read from inside: prlimit on another user's task needs its uids to match ours, even for root. */
/**
 * Read from outside with prlimit64 on the PID, as they are set, when the kernel lets us (it does
 * not for a process that changed its credentials in some ways): no remote calls then.
 */
export function dumpRlimits(inj: Injection): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  try {
    for (let r = 0; r < RLIMIT_NLIMITS; r++) {
      const l = prlimit(inj.pid, r);
      out.push([l.cur.toString(16), l.max.toString(16)]);
    }
    return out;
  } catch {
    out.length = 0;
  }
  inj.reset();
  const old = inj.space(16 * RLIMIT_NLIMITS);
  inj.batch(Array.from({ length: RLIMIT_NLIMITS }, (_, r) => ({ name: `prlimit64(${r})`, nr: NR.prlimit64, args: [0, r, 0, old + r * 16] })));
  const b = inj.mem.read(old, 16 * RLIMIT_NLIMITS);
  for (let r = 0; r < RLIMIT_NLIMITS; r++) out.push([b.readBigUInt64LE(r * 16).toString(16), b.readBigUInt64LE(r * 16 + 8).toString(16)]);
  return out;
}

/** Limits are set from outside; no remote call needed. */
export function restoreRlimits(pid: number, limits: Array<[string, string]>): void {
  limits.forEach(([cur, max], r) => prlimit(pid, r, { cur: BigInt('0x' + cur), max: BigInt('0x' + max) }));
}

export function dumpPrctl(inj: Injection): ProcessCore['prctl'] {
  inj.reset();
  const out = inj.space(16);
  const [, , dumpable, noNewPrivs] = inj.batch([
    { name: 'prctl(PR_GET_PDEATHSIG)', nr: NR.prctl, args: [PR_GET_PDEATHSIG, out] },
    { name: 'prctl(PR_GET_CHILD_SUBREAPER)', nr: NR.prctl, args: [PR_GET_CHILD_SUBREAPER, out + 8] },
    { name: 'prctl(PR_GET_DUMPABLE)', nr: NR.prctl, args: [PR_GET_DUMPABLE] },
    { name: 'prctl(PR_GET_NO_NEW_PRIVS)', nr: NR.prctl, args: [PR_GET_NO_NEW_PRIVS] },
  ]);
  const b = inj.mem.read(out, 16);
  return { dumpable: dumpable!, pdeathsig: b.readInt32LE(0), subreaper: b.readInt32LE(8), noNewPrivs: noNewPrivs! };
}

export function restoreMisc(inj: Injection, core: ProcessCore): void {
  inj.call('umask', NR.umask, core.umask);
  inj.call('personality', NR.personality, core.personality);
  if (core.prctl.pdeathsig) inj.call('prctl', NR.prctl, PR_SET_PDEATHSIG, core.prctl.pdeathsig);
  if (core.prctl.subreaper) inj.call('prctl', NR.prctl, PR_SET_CHILD_SUBREAPER, 1);
}

/**
 * Credentials go last: after setresuid to a non-root user the task can no longer do what the
 * restore still needs. Order: groups, gids, uids, then dumpable (changing uids resets it), then
 * no_new_privs, which can never be undone.
 */
export function restoreCreds(inj: Injection, core: ProcessCore): void {
  const c = core.creds;
  inj.reset(16);
  const groups = Buffer.alloc(4 * Math.max(1, c.groups.length));
  c.groups.forEach((g, i) => groups.writeUInt32LE(g, i * 4));
  inj.call('setgroups', NR.setgroups, c.groups.length, inj.put(groups));
  inj.call('setresgid', NR.setresgid, c.gid[0]!, c.gid[1]!, c.gid[2]!);
  inj.call('setresuid', NR.setresuid, c.uid[0]!, c.uid[1]!, c.uid[2]!);
  if (c.uid[0] === 0 || c.uid[1] === 0) {
    const hdr = Buffer.alloc(8);
    hdr.writeUInt32LE(0x20080522, 0);
    const data = Buffer.alloc(24);
    const lo = (h: string) => Number(BigInt('0x' + h) & 0xffffffffn);
    const hi = (h: string) => Number(BigInt('0x' + h) >> 32n);
    data.writeUInt32LE(lo(c.capEff), 0); data.writeUInt32LE(lo(c.capPrm), 4); data.writeUInt32LE(lo(c.capInh), 8);
    data.writeUInt32LE(hi(c.capEff), 12); data.writeUInt32LE(hi(c.capPrm), 16); data.writeUInt32LE(hi(c.capInh), 20);
    inj.call('capset', NR.capset, inj.put(hdr), inj.put(data));
  }
  inj.call('prctl(PR_SET_DUMPABLE)', NR.prctl, PR_SET_DUMPABLE, core.prctl.dumpable);
  if (core.prctl.noNewPrivs) inj.call('prctl', NR.prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
