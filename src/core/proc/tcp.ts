// /proc/PID/net/tcp and tcp6: every TCP socket of a network namespace, one line each, with its
// addresses, state, queues and inode. The addresses are hex, each 32-bit word in host order.
import { readFileSync } from 'node:fs';

export interface TcpRow {
  family: 4 | 6;
  inode: number;
  /** the kernel's TCP state: 1 established, 10 listening, ... */
  state: number;
  local: string; localPort: number;
  peer: string; peerPort: number;
  /** bytes waiting to be read; of a listener, connections waiting to be accepted */
  rxQueue: number;
}


/** The sockets of `pid`'s network namespace (`self`: godwit's own); a table that cannot be read is empty. */
export function readTcpTable(pid: number | 'self'): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const [file, family] of [['tcp', 4], ['tcp6', 6]] as const) {
    let text = '';
    try { text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [la, lp] = f[1]!.split(':'), [ra, rp] = f[2]!.split(':');
      rows.push(tcpRow(family, hexBytes(la!), parseInt(lp!, 16), hexBytes(ra!), parseInt(rp!, 16), parseInt(f[3]!, 16), Number(f[9]), parseInt(f[4]!.split(':')[1]!, 16)));
    }
  }
  return rows;
}

/** The table's hex address (each 32-bit word in host order) as bytes in network order. */
function hexBytes(hex: string): Buffer {
  const bytes = Buffer.alloc(hex.length / 2);
  for (let w = 0; w < hex.length / 8; w++) bytes.writeUInt32LE(parseInt(hex.slice(w * 8, w * 8 + 8), 16), w * 4);
  return bytes;
}

/** A socket's row from its addresses in network order, wherever they were read (this table, sock_diag). */
export function tcpRow(family: 4 | 6, localBytes: Buffer, localPort: number, peerBytes: Buffer, peerPort: number, state: number, inode: number, rxQueue: number): TcpRow {
  const local = ipText(localBytes, family), peer = ipText(peerBytes, family);
  // an IPv4 peer of a dual-stack socket (::ffff:a.b.c.d): on the wire, and here, it is IPv4
  const v4 = family === 6 && local.v4 !== undefined && peer.v4 !== undefined;
  return {
    family: v4 ? 4 : family, inode, state, local: v4 ? local.v4! : local.text, localPort, peer: v4 ? peer.v4! : peer.text, peerPort, rxQueue,
  };
}

/**
 * The text of an IPv4 (4 bytes) or IPv6 (16 bytes) address in network order, IPv6 as RFC 5952
 * writes it (lower case, the longest run of zero groups as `::`, a mapped IPv4 one dotted).
 */
export function ipText(bytes: Buffer, family: 4 | 6): { text: string; v4?: string } {
  const quad = (b: Buffer): string => [...b.subarray(0, 4)].join('.');
  if (family === 4) return { text: quad(bytes) };
  const g = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const v4 = quad(bytes.subarray(12, 16));
    return { text: `::ffff:${v4}`, v4 };
  }
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  return { text: best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}` };
}
