// External peers: a pipe, FIFO, unix socket or terminal of the tree whose other end is held by a
// process outside it. They are recorded at dump, never a reason to refuse or to kill, and what
// each one becomes at restore is a policy the user chooses (CRIU's names where CRIU has one):
// - inherited: `--inherit-fd fd[N]:KEY` gives the tree the restorer's fd N in its place;
// - reconnected: a unix socket connected again to the same name, where something listens there;
// - captured: a new other end held by godwit-sink (sink.ts), which appends what the tree writes
//   to a capture file; the default for what the tree writes to;
// - held: a new other end held open by godwit-sink, so the tree sees no EOF; the default for
//   what the tree reads from (nothing more arrives).
// The key of an external object is the name /proc gives it (`pipe:[INO]`, `socket:[INO]`) or, for
// a terminal, its path (`/dev/pts/N`): what `--inherit-fd` names and the report lists.

export type PeerFate = 'inherited' | 'reconnected' | 'captured' | 'held';

/** One external object after a restore, and what it became. */
export interface ExternalPeer {
  key: string;
  kind: 'pipe' | 'fifo' | 'unix' | 'tty';
  /** the tree's fds on it, as at dump */
  users: Array<{ pid: number; fd: number }>;
  became: PeerFate;
  /** captured: the file what the tree writes goes to */
  capture?: string;
  /** inherited: the restorer's fd; reconnected: the name */
  detail?: string;
}

/** What the restorer chose for the image's external objects. */
export interface ExternalPolicy {
  /** `--inherit-fd fd[N]:KEY`: KEY → the restorer's fd N */
  inherit: Map<string, number>;
  /** where capture files go (created on demand) */
  captureDir: string;
}

/**
 * Which way data flows between the tree and the peer: `out` the tree writes (a pipe's write end,
 * output to a collector), `in` the tree reads, `both` a socket.
 */
export type PeerDirection = 'in' | 'out' | 'both';

/** What the dump records of one external object: enough to decide its fate at restore. */
export interface ExternalObject {
  key: string;
  kind: ExternalPeer['kind'];
  users: ExternalPeer['users'];
  direction: PeerDirection;
  /** a unix socket: the peer's name as getpeername gave it (a path, `@abstract`, or '' unnamed) */
  peerName?: string;
  /** unix: SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
  sockType?: number;
}

/** What the restorer may do beyond the defaults (see the README's "External peers"). */
export interface RestorePeerOptions extends ExternalPolicy {
  /**
   * `--ext-unix-sk`: a unix stream socket whose peer was a named listener is connected again to
   * that name where something listens there (otherwise it is captured). Datagram sockets are
   * always connected again to a name that is bound.
   */
  reconnectUnix: boolean;
}

/** One line for people: what an external peer became. */
export function describePeer(p: ExternalPeer): string {
  const who = p.users.map((u) => `process ${u.pid} fd ${u.fd}`).join(', ');
  const what = p.became === 'captured' ? `captured into ${p.capture}`
    : p.became === 'held' ? 'held open by godwit-sink (no EOF)'
    : p.became === 'inherited' ? `inherited: the restorer's fd ${p.detail}`
    : `reconnected to ${p.detail}`;
  return `${p.kind} ${p.key} (${who}): ${what}`;
}

/** `fd[N]:KEY`, as CRIU spells --inherit-fd; null when it is not that. */
export function parseInheritFd(s: string): { fd: number; key: string } | null {
  const m = /^fd\[(\d{1,7})\]:(.+)$/.exec(s);
  if (!m) return null;
  return { fd: Number(m[1]), key: m[2]! };
}
