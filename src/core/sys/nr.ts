// x86_64 syscall numbers used by the core (arch/x86/entry/syscalls/syscall_64.tbl).
export const NR = {
  read: 0, write: 1, open: 2, close: 3, lseek: 8, mmap: 9, mprotect: 10, munmap: 11, brk: 12,
  rt_sigaction: 13, rt_sigprocmask: 14, pread64: 17, pwrite64: 18, readv: 19, writev: 20, access: 21,
  pipe: 22, sched_yield: 24, mremap: 25, madvise: 28, dup: 32, dup2: 33, pause: 34, nanosleep: 35,
  getitimer: 36, setitimer: 38, getpid: 39, socket: 41, connect: 42, sendmsg: 46, recvmsg: 47,
  bind: 49, clone: 56, fork: 57, exit: 60, wait4: 61, kill: 62, uname: 63, fcntl: 72, flock: 73,
  getcwd: 79, chdir: 80, fchdir: 81, umask: 95, getuid: 102, getgid: 104, setuid: 105, setgid: 106,
  geteuid: 107, setpgid: 109, getppid: 110, getpgrp: 111, setsid: 112, setgroups: 116,
  setresuid: 117, setresgid: 119, getpgid: 121, getsid: 124, capget: 125, capset: 126,
  rt_sigpending: 127, rt_sigqueueinfo: 129, sigaltstack: 131, personality: 135, prctl: 157,
  arch_prctl: 158, chroot: 161, gettid: 186, tkill: 200, futex: 202, set_tid_address: 218,
  clock_gettime: 228, exit_group: 231, tgkill: 234, openat: 257, set_robust_list: 273,
  get_robust_list: 274, tee: 276, dup3: 292, pipe2: 293, rt_tgsigqueueinfo: 297, prlimit64: 302,
  process_vm_readv: 310, process_vm_writev: 311, kcmp: 312, memfd_create: 319, userfaultfd: 323,
  rseq: 334, pidfd_open: 434, clone3: 435, close_range: 436, pidfd_getfd: 438,
  process_madvise: 440, ptrace: 101, ioctl: 16, setsockopt: 54, getrlimit: 97, getgroups: 115, getresuid: 118, getresgid: 120,
  getpriority: 140, setns: 308, unshare: 272, pidfd_send_signal: 424,
} as const;
