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
