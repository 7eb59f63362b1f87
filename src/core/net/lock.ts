// The network lock: while a connection moves, its packets are dropped both ways by a table of
// godwit's own, so the peer's data and ACKs neither reach a socket mid-dump nor meet a closed port
// (which would answer with a reset); TCP retransmits them once the connection is back. One
// transaction sets every rule, one removes them; the table's name says it is ours, so a godwit
// that died holding a lock can find and drop it.
import { nft, NftError } from './nft.js';
import { isIP } from 'node:net';
import { GodwitError } from '../errors.js';

import type { Connection, Endpoint, NetLock } from '../image/format.js';

export type { Connection, Endpoint };

const PREFIX = 'godwit_lock_';
/** The tag of a migration's locks: `godwit_lock_m<migration>`. An agent that starts removes them. */
export const MIGRATION_LOCK = 'm';

export class NetworkLock {
  private constructor(readonly table: string, private readonly conns: Connection[] = [], private readonly endpoints: Endpoint[] = [], private readonly ports: number[] = []) {}

  /** Drop every packet of these connections, endpoints and ports, both ways, from now until open() or release(). */
  static take(tag: string, conns: Connection[], endpoints: Endpoint[] = [], ports: number[] = []): NetworkLock {
    if (!/^[a-z0-9_]{1,40}$/.test(tag)) throw new GodwitError(`bad lock name ${tag}`);
    return NetworkLock.build(`${PREFIX}${tag}`, conns, endpoints, ports);
  }

  /**
   * The lock an image names, held here: the one its dump left on this host, or, on another
   * host, the same lock taken anew (`took`), before any of its sockets exists.
   */
  static hold(rec: NetLock): { lock: NetworkLock; took: boolean } {
    const named = NetworkLock.named(rec.table);
    if (NetworkLock.present().includes(rec.table)) return { lock: named, took: false };
    return { lock: NetworkLock.build(rec.table, rec.conns, rec.endpoints, rec.ports ?? []), took: true };
  }

  /** What an image records of this lock. */
  record(): NetLock {
    return { table: this.table, conns: this.conns, endpoints: this.endpoints, ...(this.ports.length ? { ports: this.ports } : {}) };
  }

  private static build(table: string, conns: Connection[], endpoints: Endpoint[], ports: number[]): NetworkLock {
    // the elements may come from an image another host sent: nothing but addresses and ports
    // goes into the commands
    for (const c of conns) checkTarget(c.family, c.local, c.localPort, c.peer, c.peerPort);
    for (const e of endpoints) checkTarget(e.family, e.addr, e.port);
    checkTarget(4, ...ports);
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
    if (ports.length) {
      // a listener's port, on every address and both families: its handshakes wait too
      cmds.push(`add set ${t} ports { type inet_service; }`, `add element ${t} ports { ${ports.join(', ')} }`);
      cmds.push(`add rule ${t} in tcp dport @ports drop`, `add rule ${t} out tcp sport @ports drop`);
    }
    try {
      nft(cmds.join('\n'));
    } catch (e) {
      throw new GodwitError(`cannot lock the network for ${conns.length} connection(s), ${endpoints.length} endpoint(s) and ${ports.length} port(s): ${(e as Error).message}`);
    }
    return new NetworkLock(table, conns, endpoints, ports);
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

  /**
   * Locks in this network namespace whose tag starts with `tagPrefix`: a migration's (`m`), which
   * nothing may still wait for once the agent that took it is gone, and a dump's (`d`), which a
   * `godwit restore` may still come for.
   */
  static present(tagPrefix = ''): string[] {
    return nft('list tables').split('\n').flatMap((l) => {
      const m = new RegExp(`^table inet (${PREFIX}${tagPrefix}[a-z0-9_]*)$`).exec(l.trim());
      return m ? [m[1]!] : [];
    });
  }
}

function checkTarget(family: number, ...parts: Array<string | number>): void {
  for (const p of parts) {
    const ok = typeof p === 'number' ? Number.isInteger(p) && p >= 0 && p <= 65535 : isIP(p) === family;
    if (!ok) throw new GodwitError(`not an IPv${family} address or port in a network lock: ${JSON.stringify(p)}`);
  }
}
