// `address` on either side: this host's addresses, and one address moved between hosts (`godwit
// migrate --move-ip`): taken off the source's interface, put on the destination's interface whose
// network holds it, and announced there so the link's neighbours send to the new host at once.
// The address comes from the network: it is parsed strictly, and it only ever goes on an interface
// that already serves its network.
import { GodwitError } from '../../core/errors.js';
import { parseCidr, listAddresses, holderOf, networkFor, addAddress, removeAddress, announce, type IfAddress } from '../../core/net/address.js';
import type { AgentContext } from '../context.js';
import type { OpArgs } from '../../pageserver/protocol.js';

export interface AddressAnswer {
  /** `list`: every address of this host */
  addresses?: IfAddress[];
  /** `add`, `remove`: the interface it went on or came off (null: it was not here) */
  dev?: string | null;
}

export function address(ctx: AgentContext, args: OpArgs['address']): AddressAnswer {
  if (args.action === 'list') return { addresses: listAddresses() };
  const a = parseCidr(args.cidr ?? '');
  const cidr = `${a.addr}/${a.prefix}`;
  if (args.action === 'remove') {
    const holder = holderOf(a);
    if (!holder) return { dev: null };
    // as held here: the kernel matches the prefix too
    removeAddress({ ...a, prefix: holder.prefix }, holder.dev);
    ctx.log.info({ address: cidr, dev: holder.dev }, 'address removed');
    return { dev: holder.dev };
  }
  const net = holderOf(a) ? null : networkFor(a);
  const dev = holderOf(a)?.dev ?? net?.dev;
  if (!dev) throw new GodwitError(`no interface of this host is on the network of ${cidr}`);
  // a prefix wider than the network it joins would route more than that network through it
  if (net && a.prefix < net.prefix) throw new GodwitError(`${cidr} is wider than the network it joins here (${net.addr}/${net.prefix} on ${net.dev})`);
  addAddress(a, dev);
  announce(a, dev);
  ctx.log.info({ address: cidr, dev }, 'address added and announced');
  return { dev };
}
