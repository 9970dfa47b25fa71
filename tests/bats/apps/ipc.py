# Kernel objects a restore must bring back with their state. Before the
# checkpoint it makes each with known contents and prints "ready"; on
# SIGUSR1 (after the restore) it checks each and prints "PASS name" or
# "FAIL name: why", then "done".
#
#   shm      SysV segment: its bytes, through the old attachment and a new one
#   sem      SysV semaphore set: each value
#   msg      SysV message queue: the queued messages, in order
#   mq       POSIX message queue (argv "mq" or "hold-mq"): the queued
#            messages, by priority
#   eventfd  its counter
#   timerfd  its interval, and it still fires
#   signalfd a signal queued (with its value) before, one sent after
#   epoll    reports the ready fd (with its data), not the idle one
#   inotify  a watch on /dev/shm reports a file made after the restore
#   devshm   a file in the tmpfs /dev/shm, written and MAP_SHARED-mapped
import ctypes
import ctypes.util
import errno
import mmap
import os
import select
import signal
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_CREAT, IPC_NOWAIT = 0, 0o1000, 0o4000
GETVAL, SETVAL = 12, 16

for name, res, args in [
        ("shmget", ctypes.c_int, [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]),
        ("shmat", ctypes.c_void_p, [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]),
        ("semget", ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.c_int]),
        ("msgget", ctypes.c_int, [ctypes.c_int, ctypes.c_int]),
        ("msgsnd", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]),
        ("msgrcv", ctypes.c_ssize_t, [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long, ctypes.c_int]),
        ("mq_open", ctypes.c_int, None),
        ("mq_close", ctypes.c_int, [ctypes.c_int]),
        ("mq_send", ctypes.c_int, [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]),
        ("mq_receive", ctypes.c_ssize_t, [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint)]),
        ("timerfd_create", ctypes.c_int, [ctypes.c_int, ctypes.c_int]),
        ("timerfd_settime", ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
        ("timerfd_gettime", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p]),
        ("signalfd", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]),
        ("sigqueue", ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]),
        ("inotify_init1", ctypes.c_int, [ctypes.c_int]),
        ("inotify_add_watch", ctypes.c_int, [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32])]:
    f = getattr(libc, name)
    f.restype = res
    if args is not None:
        f.argtypes = args


def check(rc, what):
    if rc == -1 or rc is None:
        e = ctypes.get_errno()
        sys.exit("%s: %s" % (what, os.strerror(e)))
    return rc


class MqAttr(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long),
                ("msgsize", ctypes.c_long), ("curmsgs", ctypes.c_long),
                ("pad", ctypes.c_long * 4)]


class Itimerspec(ctypes.Structure):
    _fields_ = [("int_sec", ctypes.c_long), ("int_nsec", ctypes.c_long),
                ("val_sec", ctypes.c_long), ("val_nsec", ctypes.c_long)]


def sigset(*sigs):
    mask = 0
    for s in sigs:
        mask |= 1 << (s - 1)
    return ctypes.c_uint64(mask)


# ------------------------------------------------------------ set up
SHM_SIZE = 1 << 16
SHM_BYTES = bytes((i * 7 + 3) % 251 for i in range(SHM_SIZE))
shm_id = check(libc.shmget(IPC_PRIVATE, SHM_SIZE, IPC_CREAT | 0o600), "shmget")
shm_addr = libc.shmat(shm_id, None, 0)
if shm_addr in (None, ctypes.c_void_p(-1).value):
    sys.exit("shmat failed")
ctypes.memmove(shm_addr, SHM_BYTES, SHM_SIZE)

SEM_VALUES = [3, 1, 4]
sem_id = check(libc.semget(IPC_PRIVATE, len(SEM_VALUES), IPC_CREAT | 0o600), "semget")
for i, v in enumerate(SEM_VALUES):
    check(libc.semctl(sem_id, i, SETVAL, ctypes.c_int(v)), "semctl SETVAL")

MSGS = [(1, b"first sysv message"), (2, b"second sysv message")]
msg_id = check(libc.msgget(IPC_PRIVATE, IPC_CREAT | 0o600), "msgget")
for mtype, text in MSGS:
    buf = struct.pack("l", mtype) + text
    check(libc.msgsnd(msg_id, buf, len(text), IPC_NOWAIT), "msgsnd")

# POSIX message queue, only with "mq" or "hold-mq" in argv: CRIU 4.1.1
# cannot checkpoint one (criu#2285): it refuses an mqueue fs holding
# messages ("mq": the fd closed, the queue left with its messages) and any
# open queue fd ("hold-mq").
MQ_NAME = b"/stasis-app-q"
MQ_MSGS = [(1, b"mq low"), (5, b"mq high"), (3, b"mq middle")]
WITH_MQ = "mq" in sys.argv[1:] or "hold-mq" in sys.argv[1:]
mq = None
if WITH_MQ:
    attr = MqAttr(0, 8, 64, 0)
    mq = check(libc.mq_open(MQ_NAME, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK,
                            ctypes.c_int(0o600), ctypes.byref(attr)), "mq_open")
    for prio, text in MQ_MSGS:
        check(libc.mq_send(mq, text, len(text), prio), "mq_send")
    if "hold-mq" not in sys.argv[1:]:
        check(libc.mq_close(mq), "mq_close")
        mq = None

EVENTFD_VALUE = 42
efd = os.eventfd(0, os.EFD_NONBLOCK)
os.eventfd_write(efd, EVENTFD_VALUE)

TIMER_NS = 20_000_000
tfd = check(libc.timerfd_create(1, os.O_NONBLOCK), "timerfd_create")  # CLOCK_MONOTONIC
its = Itimerspec(0, TIMER_NS, 0, TIMER_NS)
check(libc.timerfd_settime(tfd, 0, ctypes.byref(its), None), "timerfd_settime")

SIGVAL = 1234
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1, signal.SIGUSR2])
mask = sigset(signal.SIGUSR2)
sfd = check(libc.signalfd(-1, ctypes.byref(mask), os.O_NONBLOCK), "signalfd")
# queued now, read only after the restore: a pending signal must survive
check(libc.sigqueue(os.getpid(), signal.SIGUSR2, ctypes.c_void_p(SIGVAL)), "sigqueue")

ready_fd = os.eventfd(1, os.EFD_NONBLOCK)
idle_fd = os.eventfd(0, os.EFD_NONBLOCK)
ep = select.epoll()
ep.register(ready_fd, select.EPOLLIN)
ep.register(idle_fd, select.EPOLLIN)

ino = check(libc.inotify_init1(os.O_NONBLOCK), "inotify_init1")
check(libc.inotify_add_watch(ino, b"/dev/shm", 0x100), "inotify_add_watch")  # IN_CREATE

DEVSHM_BYTES = b"".join(b"devshm line %d\n" % i for i in range(2000))
with open("/dev/shm/app-data", "wb") as f:
    f.write(DEVSHM_BYTES)
map_fd = os.open("/dev/shm/app-map", os.O_RDWR | os.O_CREAT, 0o600)
os.ftruncate(map_fd, mmap.PAGESIZE)
shared = mmap.mmap(map_fd, mmap.PAGESIZE, mmap.MAP_SHARED)
shared[:13] = b"mapped shared"

print("ready", flush=True)
signal.sigwait([signal.SIGUSR1])


# ------------------------------------------------------------ check
def wait_readable(fd, secs=5):
    r, _, _ = select.select([fd], [], [], secs)
    return bool(r)


def t_shm():
    got = ctypes.string_at(shm_addr, SHM_SIZE)
    if got != SHM_BYTES:
        return "bytes through the old attachment differ"
    again = libc.shmat(shm_id, None, 0)
    if again in (None, ctypes.c_void_p(-1).value):
        return "shmat(%d) again: %s" % (shm_id, os.strerror(ctypes.get_errno()))
    if ctypes.string_at(again, SHM_SIZE) != SHM_BYTES:
        return "bytes through a new attachment differ"


def t_sem():
    got = [libc.semctl(sem_id, i, GETVAL, ctypes.c_int(0)) for i in range(len(SEM_VALUES))]
    if got != SEM_VALUES:
        return "values %s, want %s" % (got, SEM_VALUES)


def t_msg():
    buf = ctypes.create_string_buffer(8 + 128)
    for mtype, text in MSGS:
        n = libc.msgrcv(msg_id, buf, 128, 0, IPC_NOWAIT)
        if n < 0:
            return "msgrcv: %s" % os.strerror(ctypes.get_errno())
        got = (struct.unpack("l", buf.raw[:8])[0], buf.raw[8:8 + n])
        if got != (mtype, text):
            return "got %r, want %r" % (got, (mtype, text))


def t_mq():
    global mq
    if mq is None:
        mq = libc.mq_open(MQ_NAME, os.O_RDONLY | os.O_NONBLOCK)
        if mq < 0:
            return "mq_open(%s): %s" % (MQ_NAME.decode(), os.strerror(ctypes.get_errno()))
    buf = ctypes.create_string_buffer(64)
    prio = ctypes.c_uint()
    for want in sorted(MQ_MSGS, reverse=True):
        n = libc.mq_receive(mq, buf, 64, ctypes.byref(prio))
        if n < 0:
            return "mq_receive: %s" % os.strerror(ctypes.get_errno())
        if (prio.value, buf.raw[:n]) != want:
            return "got %r, want %r" % ((prio.value, buf.raw[:n]), want)


def t_eventfd():
    try:
        v = os.eventfd_read(efd)
    except BlockingIOError:
        return "counter is 0"
    if v != EVENTFD_VALUE:
        return "counter %d, want %d" % (v, EVENTFD_VALUE)


def t_timerfd():
    cur = Itimerspec()
    libc.timerfd_gettime(tfd, ctypes.byref(cur))
    if (cur.int_sec, cur.int_nsec) != (0, TIMER_NS):
        return "interval %d.%09d" % (cur.int_sec, cur.int_nsec)
    for i in range(2):
        if not wait_readable(tfd):
            return "did not fire (read %d)" % i
        n = struct.unpack("Q", os.read(tfd, 8))[0]
        if n < 1:
            return "read %d expirations" % n


def read_siginfo():
    if not wait_readable(sfd):
        return None
    info = os.read(sfd, 128)
    signo = struct.unpack_from("I", info, 0)[0]
    ssi_int = struct.unpack_from("i", info, 0x2C)[0]  # ssi_int
    return signo, ssi_int


def t_signalfd():
    got = read_siginfo()
    if got != (signal.SIGUSR2, SIGVAL):
        return "pending signal: got %r, want %r" % (got, (signal.SIGUSR2, SIGVAL))
    os.kill(os.getpid(), signal.SIGUSR2)
    got = read_siginfo()
    if got is None or got[0] != signal.SIGUSR2:
        return "signal sent after the restore: got %r" % (got,)


def t_epoll():
    evs = dict(ep.poll(5))
    if evs.get(ready_fd) != select.EPOLLIN:
        return "ready eventfd not reported: %r" % evs
    if idle_fd in evs:
        return "idle eventfd reported: %r" % evs


def t_inotify():
    with open("/dev/shm/made-after-restore", "w"):
        pass
    if not wait_readable(ino):
        return "no event"
    data = os.read(ino, 4096)
    off = 0
    while off < len(data):
        wd, mask, cookie, ln = struct.unpack_from("iIII", data, off)
        name = data[off + 16:off + 16 + ln].rstrip(b"\0")
        if name == b"made-after-restore" and mask & 0x100:
            return None
        off += 16 + ln
    return "events without the new file: %r" % data


def t_devshm():
    with open("/dev/shm/app-data", "rb") as f:
        if f.read() != DEVSHM_BYTES:
            return "/dev/shm/app-data differs"
    with open("/dev/shm/app-map", "rb") as f:
        if f.read(13) != b"mapped shared":
            return "/dev/shm/app-map differs"
    shared[:13] = b"written again"
    with open("/dev/shm/app-map", "rb") as f:
        if f.read(13) != b"written again":
            return "the MAP_SHARED mapping no longer writes the file"


tests = [("shm", t_shm), ("sem", t_sem), ("msg", t_msg),
         ("eventfd", t_eventfd), ("timerfd", t_timerfd),
         ("signalfd", t_signalfd), ("epoll", t_epoll),
         ("inotify", t_inotify), ("devshm", t_devshm)]
if WITH_MQ:
    tests.append(("mq", t_mq))
for name, t in tests:
    try:
        why = t()
    except Exception as e:  # a broken object must not hide the others
        why = "%s: %s" % (type(e).__name__, e)
    print("PASS " + name if why is None else "FAIL %s: %s" % (name, why), flush=True)
print("done", flush=True)
