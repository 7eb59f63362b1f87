// errno numbers to names for messages; only the ones the core reports on purpose have a text.
const NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 9: 'EBADF', 10: 'ECHILD', 11: 'EAGAIN',
  12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 20: 'ENOTDIR',
  21: 'EISDIR', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC', 32: 'EPIPE', 34: 'ERANGE', 38: 'ENOSYS',
  92: 'ENOPROTOOPT', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 100: 'ENETDOWN',
  101: 'ENETUNREACH', 105: 'ENOBUFS', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED',
};

export const EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, ECHILD = 10, EAGAIN = 11, EEXIST = 17,
  EINVAL = 22, ENOSYS = 38;

export function errnoName(e: number): string {
  return NAMES[e] ? `${NAMES[e]} (errno ${e})` : `errno ${e}`;
}
