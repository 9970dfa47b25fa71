# Fills MIB MiB (argv[1]) of anonymous memory with random bytes, prints
# "sum <sha256>" of it, then sleeps; each SIGUSR1 prints the sum again,
# computed afresh from the memory: after a restore it must be the same.
import hashlib
import signal
import sys
import time

size = int(sys.argv[1]) << 20
buf = bytearray(size)
view = memoryview(buf)
with open("/dev/urandom", "rb", buffering=0) as f:
    off = 0
    while off < size:
        n = f.readinto(view[off:off + (16 << 20)])
        if not n:
            sys.exit("short read from /dev/urandom")
        off += n


def report(*_):
    print("sum " + hashlib.sha256(buf).hexdigest(), flush=True)


signal.signal(signal.SIGUSR1, report)
report()
while True:
    time.sleep(3600)
