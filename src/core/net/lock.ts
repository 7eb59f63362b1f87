// The network lock: while a connection moves, its packets are dropped both ways by a table of
// godwit's own, so the peer's data and ACKs neither reach a socket mid-dump nor meet a closed port
// (which would answer with a reset); TCP retransmits them once the connection is back. One
// transaction sets every rule, one removes them; the table's name says it is ours, so a godwit
// that died holding a lock can find and drop it.
import { nft, NftError } from './nft.js';
import { GodwitError } from '../errors.js';

export interface Connection { family: 4 | 6; local: string; localPort: number; peer: string; peerPort: number }
/** A local address and port all of whose connections move: one element holds them all (and new SYNs) */
export interface Endpoint { family: 4 | 6; addr: string; port: number }

const PREFIX = 'godwit_lock_';

export class NetworkLock {
  private constructor(readonly table: string) {}

  /** Drop every packet of these connections and endpoints, both ways, from now until open() or release(). */
  static take(tag: string, conns: Connection[], endpoints: Endpoint[] = []): NetworkLock {
    if (!/^[a-z0-9_]{1,40}$/.test(tag)) throw new GodwitError(`bad lock name ${tag}`);
    const table = `${PREFIX}${tag}`;
    const t = `inet ${table}`;
    const cmds = [
      `add table ${t}`,
      // before conntrack and everything else: the packet must not reach TCP at all
      `add chain ${t} in { type filter hook input priority -300; policy accept; }`,
      `add chain ${t} out { type filter hook output priority -300; policy accept; }`,
    ];
    for (const fam of [4, 6] as const) {
      const mine = conns.filter((c) => c.family === fam);
      if (!mine.length) continue;
      const type = fam === 4 ? 'ipv4_addr' : 'ipv6_addr', ip = fam === 4 ? 'ip' : 'ip6', set = `c${fam}`;
      cmds.push(`add set ${t} ${set} { type ${type} . inet_service . ${type} . inet_service; }`);
      const els = mine.flatMap((c) => [`${c.local} . ${c.localPort} . ${c.peer} . ${c.peerPort}`, `${c.peer} . ${c.peerPort} . ${c.local} . ${c.localPort}`]);
      cmds.push(`add element ${t} ${set} { ${els.join(', ')} }`);
      for (const chain of ['in', 'out']) cmds.push(`add rule ${t} ${chain} ${ip} saddr . tcp sport . ${ip} daddr . tcp dport @${set} drop`);
    }
    for (const fam of [4, 6] as const) {
      const mine = endpoints.filter((e) => e.family === fam);
      if (!mine.length) continue;
      const type = fam === 4 ? 'ipv4_addr' : 'ipv6_addr', ip = fam === 4 ? 'ip' : 'ip6', set = `e${fam}`;
      cmds.push(`add set ${t} ${set} { type ${type} . inet_service; }`);
      cmds.push(`add element ${t} ${set} { ${mine.map((e) => `${e.addr} . ${e.port}`).join(', ')} }`);
      cmds.push(`add rule ${t} in ${ip} daddr . tcp dport @${set} drop`, `add rule ${t} out ${ip} saddr . tcp sport @${set} drop`);
    }
    try {
      nft(cmds.join('\n'));
    } catch (e) {
      throw new GodwitError(`cannot lock the network for ${conns.length} connection(s) and ${endpoints.length} endpoint(s): ${(e as Error).message}`);
    }
    return new NetworkLock(table);
  }

  /** The lock a dump left for its restore, by its table's name. */
  static named(table: string): NetworkLock {
    if (!table.startsWith(PREFIX) || !/^[a-z0-9_]{1,60}$/.test(table)) throw new GodwitError(`'${table}' is not the name of a godwit network lock`);
    return new NetworkLock(table);
  }

  /**
   * Let the packets through again, at once: an accept rule goes in ahead of the drops. Removing
   * anything from nf_tables waits for an RCU grace period (6 to 19 ms here); adding does not. The
   * table itself goes with release(), when no one is waiting for it.
   */
  open(): void {
    try {
      nft(`insert rule inet ${this.table} in accept\ninsert rule inet ${this.table} out accept`);
    } catch (e) {
      if (!(e instanceof NftError && /No such file|does not exist/i.test(e.message))) throw e;
    }
  }

  /** Remove the table. Idempotent: a lock already gone is fine. */
  release(): void {
    try {
      nft(`delete table inet ${this.table}`);
    } catch (e) {
      if (!(e instanceof NftError && /No such file|does not exist/i.test(e.message))) throw e;
    }
  }

  /** Locks left in this network namespace by a godwit that did not live to release them. */
  static stale(): NetworkLock[] {
    return nft('list tables').split('\n').flatMap((l) => {
      const m = new RegExp(`^table inet (${PREFIX}[a-z0-9_]+)$`).exec(l.trim());
      return m ? [new NetworkLock(m[1]!)] : [];
    });
  }
}
