# A multi-threaded interpreter with a child process: thread "file" appends
# consecutive numbers to /data/seq (one write(2) each, O_APPEND), thread
# "feed" writes consecutive numbers down a pipe to a busybox child, which
# echoes each as "child N" on the container's stdout. The main thread waits
# on both. After a restore both sequences must go on with nothing lost or
# repeated: the file's from what the copied rootfs holds, the child's from
# what its old and new stdout pipes got.
import os
import subprocess
import threading
import time

child = subprocess.Popen(
    ["/bin/sh", "-c", 'while read n; do echo "child $n"; done'],
    stdin=subprocess.PIPE, bufsize=0)


def append_file():
    fd = os.open("/data/seq", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    n = 0
    while True:
        os.write(fd, b"%d\n" % n)
        n += 1
        time.sleep(0.02)


def feed_child():
    n = 0
    while True:
        child.stdin.write(b"%d\n" % n)
        n += 1
        time.sleep(0.02)


threads = [threading.Thread(target=f, name=f.__name__, daemon=True)
           for f in (append_file, feed_child)]
for t in threads:
    t.start()
for t in threads:
    t.join()
