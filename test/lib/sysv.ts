// A process outside the tree under test that attaches one of its System V segments too (python3
// through ctypes): what makes a segment impossible to move without it.
export function attachFromOutside(shmid: number): string[] {
  return ['python3', '-c', [
    'import ctypes, os, time', 'libc = ctypes.CDLL(None)', 'libc.shmat.restype = ctypes.c_void_p',
    `assert libc.shmat(${shmid}, None, 0) not in (None, ctypes.c_void_p(-1).value)`, `print('READY', os.getpid(), flush=True)`, 'time.sleep(600)',
  ].join('\n')];
}
