// Open-flag arithmetic shared by the fd kinds.
export const O = {
  ACCMODE: 0o3, RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, EXCL: 0o200, NOCTTY: 0o400,
  TRUNC: 0o1000, APPEND: 0o2000, NONBLOCK: 0o4000, DIRECTORY: 0o200000, CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

/** Flags that only matter at open time or belong to the fd, not the open file. */
export function reopenFlags(flags: number): number {
  return flags & ~(O.CREAT | O.EXCL | O.TRUNC | O.NOCTTY | O.CLOEXEC);
}
/** Status flags F_SETFL can change on an existing open file. */
export const SETFL_MASK = O.APPEND | O.NONBLOCK | 0o20000 /* O_ASYNC */ | 0o40000 /* O_DIRECT */ | 0o1000000 /* O_NOATIME */;
