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
      const local = hexAddr(la!, family), peer = hexAddr(ra!, family);
      // an IPv4 peer of a dual-stack socket (::ffff:a.b.c.d): on the wire, and here, it is IPv4
      const v4 = family === 6 && local.v4 !== undefined && peer.v4 !== undefined;
      rows.push({
        family: v4 ? 4 : family, inode: Number(f[9]), state: parseInt(f[3]!, 16),
        local: v4 ? local.v4! : local.text, localPort: parseInt(lp!, 16), peer: v4 ? peer.v4! : peer.text, peerPort: parseInt(rp!, 16),
        rxQueue: parseInt(f[4]!.split(':')[1]!, 16),
      });
    }
  }
  return rows;
}

/** An address as nft and people write it, and for an IPv4-mapped IPv6 address the IPv4 one too. */
function hexAddr(hex: string, family: 4 | 6): { text: string; v4?: string } {
  const bytes = Buffer.alloc(hex.length / 2);
  for (let w = 0; w < hex.length / 8; w++) bytes.writeUInt32LE(parseInt(hex.slice(w * 8, w * 8 + 8), 16), w * 4);
  return ipText(bytes, family);
}

/** The text of an IPv4 (4 bytes) or IPv6 (16 bytes) address in network order. */
export function ipText(bytes: Buffer, family: 4 | 6): { text: string; v4?: string } {
  if (family === 4) return { text: [...bytes.subarray(0, 4)].join('.') };
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(bytes.readUInt16BE(i).toString(16));
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes.readUInt16BE(10) === 0xffff;
  return { text: parts.join(':'), ...(mapped ? { v4: [...bytes.subarray(12, 16)].join('.') } : {}) };
}
