// The image schema: one record kind per file, like CRIU's images/. Every file carries the format
// version; 64-bit values that may exceed 2^53 (masks, limits) are hex strings.
import type { ExternalObject } from '../files/external.js';

// 3: System V IPC (ipc.mpk, VMAs of kind 'sysv')
// 4: zero pages are left out of page files and named in PageSegment.zero, which overrides older
//    links: a godwit that reads only version 3 would bring their data back, so it must refuse
export const IMAGE_FORMAT_VERSION = 4;
/** Versions this godwit reads: version 3 is version 4 with no zero runs. */
export const READABLE_FORMATS: readonly number[] = [3, 4];
export const IMAGE_ARCH = 'x86_64';

export interface Inventory {
  format: number;
  godwit: string;
  arch: string;
  kernel: string;
  created: string;
  root: number;
  pageSize: number;
  xsaveSize: number;
  cpuFlags: string[];
  /** the previous image of a pre-dump chain, relative to this image's directory */
  parent?: string;
  /** a pre-dump holds memory only; a dump holds everything */
  kind?: 'dump' | 'pre-dump';
  /**
   * The network lock (an nftables table) holding the image's TCP connections until a restore
   * releases it, and what it holds: a restore on another host takes the same lock there before
   * any of the sockets exists, so that no packet meets a port with nothing behind it (a reset).
   */
  netLock?: NetLock;
}

/** `ports`: TCP ports held whole (the tree's listeners' own) */
export interface NetLock { table: string; conns: Connection[]; endpoints: Endpoint[]; ports?: number[] }
/** One TCP connection, as the network lock names it (addresses as text). */
export interface Connection { family: 4 | 6; local: string; localPort: number; peer: string; peerPort: number }
/** A local address and port all of whose connections move: one element holds them all (and new SYNs) */
export interface Endpoint { family: 4 | 6; addr: string; port: number }

/** An established TCP connection in repair mode's terms (net/tcp.ts). */
export interface TcpState {
  /** the next sequence numbers to send and to receive, past what the queues hold */
  sendSeq: number;
  recvSeq: number;
  /** written by the process and not acknowledged; its last `unsentBytes` were never sent */
  sendQueue: Uint8Array;
  unsentBytes: number;
  /** arrived and not yet read by the process */
  recvQueue: Uint8Array;
  mss: number;
  sack: boolean;
  sndWscale?: number;
  rcvWscale?: number;
  timestamp?: number;
  /** snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup */
  window: [number, number, number, number, number];
}

/** How a pre-dump left dirty tracking for the next link of its chain. */
export interface TrackRecord {
  pid: number;
  backend: 'uffd' | 'soft-dirty' | 'hash';
  /** uffd: the fd number the tracker is parked at in the process */
  parkedFd?: number;
  /**
   * Page ranges [start, end) the chain still owes: present when tracking began but in no link yet,
   * because the link was capped (a first pass sent in slices). The next link carries them.
   */
  owed?: Array<[number, number]>;
}

export interface PstreeEntry {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  threads: number[];
  /** exited, not yet reaped by its parent */
  zombie?: { exitCode: number; comm: string };
  /** stopped by a signal at dump time */
  stopped?: boolean;
  /** its group was the foreground group of its controlling terminal */
  foreground?: boolean;
}

export interface Pstree { entries: PstreeEntry[] }

export interface SigactionEntry { sig: number; handler: number; flags: number; restorer: number; mask: string }

export interface ThreadCore {
  tid: number;
  comm: string;
  regs: Uint8Array;
  xstate: Uint8Array;
  sigmask: string;
  /** siginfo_t (128 bytes each) queued for this thread only */
  pending: Uint8Array[];
  rseq?: { ptr: number; size: number; signature: number };
  tidAddress: number;
  robustList: { head: number; len: number };
  altstack: { sp: number; flags: number; size: number };
}

export type VmaKind = 'anon' | 'file' | 'shmem' | 'sysv' | 'vdso' | 'vvar' | 'vvar_vclock' | 'vsyscall';

export interface VmaEntry {
  start: number;
  end: number;
  /** PROT_* bits */
  prot: number;
  shared: boolean;
  kind: VmaKind;
  /** [heap], [stack], a path, or '' */
  name: string;
  /** file mappings and shmem: offset in the backing object, bytes */
  offset: number;
  growsDown: boolean;
  /** MAP_NORESERVE (VmFlags nr): without it the kernel may merge the mapping with a neighbour */
  noReserve?: boolean;
  /** VmFlags from smaps that restore turns back into madvise calls */
  advice: string[];
  /** shmem: the object's id in shmem.mpk */
  shmemId?: number;
  /**
   * sysv: an attachment of a System V shared memory segment (ipc.mpk) at `start - offset`;
   * `rdonly`: attached SHM_RDONLY, `exec`: SHM_EXEC
   */
  sysv?: { id: number; rdonly: boolean; exec: boolean };
  /** a mapping of a memfd or deleted file: its ghost in files.mpk */
  ghostId?: number;
  /** file: size and mtime at dump, to refuse a restore over a changed file */
  fileSize?: number;
  fileMtime?: number;
}

export interface MmCore {
  startCode: number; endCode: number; startData: number; endData: number;
  startBrk: number; brk: number; startStack: number;
  argStart: number; argEnd: number; envStart: number; envEnd: number;
  auxv: Uint8Array;
  exe: string;
  vmas: VmaEntry[];
}

export interface Creds {
  uid: number[]; gid: number[]; groups: number[];
  capEff: string; capPrm: string; capInh: string;
}

export interface FdEntry { fd: number; fileId: number; cloexec: boolean }

export interface ProcessCore {
  pid: number;
  comm: string;
  cwd: string;
  root: string;
  umask: number;
  personality: number;
  creds: Creds;
  rlimits: Array<[string, string]>;
  sigactions: SigactionEntry[];
  sharedPending: Uint8Array[];
  prctl: { dumpable: number; pdeathsig: number; subreaper: number; noNewPrivs: number };
  itimers: Array<{ which: number; interval: [number, number]; value: [number, number] }>;
  locks: LockEntry[];
  posixTimers: Array<{
    id: number; clockid: number; signo: number; value: string; notify: number; tid: number;
    interval: [number, number]; remaining: [number, number];
  }>;
  threads: ThreadCore[];
  mm: MmCore;
  fds: FdEntry[];
}

export type FileEntry =
  | { id: number; kind: 'reg'; path: string; flags: number; pos: number; size: number; mode: number }
  | { id: number; kind: 'chr'; path: string; flags: number; rdev: number }
  | { id: number; kind: 'pipe'; pipeId: number; flags: number; end: 'r' | 'w' }
  | { id: number; kind: 'eventfd'; flags: number; count: string; semaphore: boolean }
  | { id: number; kind: 'epoll'; flags: number; targets: Array<{ tfd: number; events: number; data: string }> }
  | { id: number; kind: 'timerfd'; flags: number; clockid: number; ticks: string; value: [number, number]; interval: [number, number] }
  | { id: number; kind: 'signalfd'; flags: number; mask: string }
  | { id: number; kind: 'fifo'; path: string; fifoId: number; flags: number }
  | { id: number; kind: 'ghost'; ghostId: number; flags: number; pos: number }
  | { id: number; kind: 'tty'; flags: number; path: string }
  /** one end of a pseudo-terminal (files/tty.ts); the pty itself is in Files.ptys */
  | { id: number; kind: 'pty'; flags: number; ptyId: number; end: 'master' | 'slave' }
  | { id: number; kind: 'inotify'; flags: number; watches: Array<{ wd: number; mask: number; path: string }> }
  | {
    id: number; kind: 'inet'; family: number; type: number; protocol: number; flags: number; listening: boolean;
    local: Uint8Array; peer: Uint8Array; opts: Record<string, number>;
    /** an established TCP connection */
    tcp?: TcpState;
  }
  | {
    id: number; kind: 'unix'; type: number; flags: number; ino: number; state: 'listen' | 'connected' | 'unconnected';
    name: Uint8Array; peerIno: number; peerName: Uint8Array;
    /** the process's cwd at dump, which relative socket paths are resolved against */
    cwd: string;
    /** a socket bound to a path: its file's permissions and owner, which decide who may connect */
    file?: { mode: number; uid: number; gid: number };
    /** messages (or stream segments) waiting in this socket's receive queue, with the files in flight */
    queue: Array<{ data: Uint8Array; files: number[] }>; opts: Record<string, number>;
  };

/** A file that exists only while open: its contents are in ghost-ID.img. */
export interface GhostEntry {
  id: number; kind: 'memfd' | 'deleted'; dev: number; ino: number;
  /** memfd: its name; deleted: the path it had */
  path: string; size: number; mode: number; seals: number;
}

export interface LockEntry { kind: 'flock' | 'posix' | 'ofd'; fd: number; write: boolean; start: number; end: number }

export interface PipeEntry { id: number; ino: number; size: number; data: Uint8Array; external: boolean }

/** A pseudo-terminal (files/tty.ts): what its two ends share. */
export interface PtyEntry {
  id: number;
  /** its index at dump, /dev/pts/`index` */
  index: number;
  path: string;
  /** its master was held outside the tree: what it becomes is the restorer's policy */
  external: boolean;
  /** struct termios of the slave (TCGETS), and struct winsize */
  termios: Uint8Array;
  winsize: Uint8Array;
  /** master in packet mode (TIOCPKT); slave locked (TIOCSPTLCK); exclusive (TIOCEXCL) */
  packet: boolean;
  locked: boolean;
  exclusive: boolean;
  /** written on the slave's side and not yet read from the master (already output-processed) */
  toMaster: Uint8Array;
  /** written into the master and not yet read on the slave's side (already input-processed, echoed) */
  toSlave: Uint8Array;
  /** the session leader of the tree whose controlling terminal it is, and that session's foreground group */
  session?: number;
  foreground?: number;
  /** the tree's fds on the slave */
  users?: Array<{ pid: number; fd: number }>;
}


export interface Files {
  files: FileEntry[]; pipes: PipeEntry[]; ghosts: GhostEntry[];
  /** pipes, FIFOs and sockets whose other end was outside the tree (absent in older images) */
  external?: ExternalObject[];
  /** pseudo-terminals (absent in older images) */
  ptys?: PtyEntry[];
}

/** Where pages lie in a segment file: runs of consecutive pages. */
export interface PagemapEntry { start: number; pages: number; offset: number }
/** One file of page data, written by one stream. */
export interface PageSegment {
  file: string;
  entries: PagemapEntry[];
  totalPages: number;
  /** crc32 of each CHUNK_BYTES of the file, in order */
  chunkCrcs: number[];
  /**
   * Address ranges [start, end) of pages this stream was given that read zero: all-zero content,
   * the shared zero page, or no page at all where the tracker saw a write (MADV_DONTNEED). They
   * take no room in the file. As of this link they are zero, whatever an older link holds there;
   * a mapping made anew already is, so a restore does nothing for them there.
   */
  zero?: Array<[number, number]>;
}
export interface Pagemap {
  pid: number;
  segments: PageSegment[];
  /** mappings new since the parent image: older images hold nothing valid for these ranges */
  fresh?: Array<[number, number]>;
  /**
   * pre-dump links: every mapping when the link was taken, and whether it is plain private
   * anonymous memory, which a destination may build while pre-copy goes on; `key`: how to map
   * one of the other mappings it builds too, exactly (files mapped privately, the stack)
   */
  layout?: Array<{ start: number; end: number; plain: boolean; key?: string }>;
}

export interface ShmemObject { id: number; ino: number; size: number; owner: number; segments: PageSegment[] }
export interface Shmem { objects: ShmemObject[] }

/**
 * System V IPC objects of the tree (ipc.mpk), each with the id and key it had; owners as
 * IPC_STAT gave them (cuid/cgid are the creator's, which restore takes on while it creates).
 */
export interface IpcPerms { uid: number; gid: number; cuid: number; cgid: number; /** the low 9 bits */ mode: number }
export interface SysvShmEntry extends IpcPerms {
  id: number; key: number; size: number;
  /** IPC_RMID'd while attached (SHM_DEST): removed again once the tree has attached it */
  removed: boolean;
  /** SHM_LOCK'd: locked again */
  locked: boolean;
  /** the non-zero pages, by offset in the segment */
  pages: Array<{ offset: number; data: Uint8Array }>;
}
export interface SysvSemEntry extends IpcPerms {
  id: number; key: number; values: number[];
  /** sempid of each semaphore where it is a process of the tree (0 otherwise): restore makes it so again */
  pids: number[];
}
export interface SysvMsgEntry extends IpcPerms {
  id: number; key: number; qbytes: number;
  /** in queue order; `type`: mtype, a signed long, in hex */
  messages: Array<{ type: string; data: Uint8Array }>;
  /** msg_lspid and msg_lrpid where they are processes of the tree (0 otherwise) */
  lspid: number; lrpid: number;
}
export interface Ipc { shm: SysvShmEntry[]; sem: SysvSemEntry[]; msg: SysvMsgEntry[] }

export const CHUNK_BYTES = 4 << 20;
