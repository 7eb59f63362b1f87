# A Python interpreter holding a ~200 MB structure and a counter thread; on SIGUSR2 it checks both.
import hashlib, os, signal, sys, threading, time

data = [os.urandom(64) * 16 for _ in range(200_000)]  # 200k x 1 KiB = ~200 MB
digest = hashlib.sha256(b''.join(data)).hexdigest()
count = 0
check = threading.Event()

def counter():
    global count
    while not check.is_set():
        count += 1
        time.sleep(0.001)

signal.signal(signal.SIGUSR2, lambda s, f: check.set())
t = threading.Thread(target=counter, daemon=True)
t.start()
time.sleep(0.2)
c0 = count
print(f"READY {os.getpid()} count={c0}", flush=True)
while not check.is_set():
    time.sleep(0.01)
t.join()
ok = hashlib.sha256(b''.join(data)).hexdigest() == digest
print(("PASS" if ok and count > c0 else "FAIL") + f" python digest={'same' if ok else 'changed'} count {c0}->{count}", flush=True)
sys.exit(0 if ok else 1)
