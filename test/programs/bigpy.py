# A Python 3 interpreter holding a ~200 MB structure (a list of 200k bytes objects of 1 KiB) and a
# counter thread. Protocol of test/programs/proto.h: READY <pid>, SIGUSR2, then PASS or FAIL after
# checking that the structure's digest is unchanged and that the counter went on.
import hashlib, os, signal, sys, threading, time

def digest(items):
    h = hashlib.sha256()
    for b in items:
        h.update(b)
    return h.hexdigest()

data = [os.urandom(64) * 16 for _ in range(200_000)]  # 200k x 1 KiB = ~200 MB
want = digest(data)
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
t.join(5)
same = len(data) == 200_000 and digest(data) == want
ok = same and count > c0 and not t.is_alive()
print(("PASS" if ok else "FAIL") + f" python digest={'same' if same else 'changed'} count {c0}->{count}", flush=True)
sys.exit(0 if ok else 1)
