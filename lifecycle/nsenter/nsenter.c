// Namespace entry for the container init (and later exec), run as a
// constructor before the Go runtime starts.
//
// Why C: setns(2) into a user or mount namespace requires a single-threaded
// caller, and a new pid namespace only applies to children. The Go runtime
// is multi-threaded from its first instruction, so this must happen before
// it starts. Everything else (mounts, users, capabilities) is done in Go.
//
// The constructor does nothing unless _STASIS_INIT_SOCK names a socket fd.
// Then this process is "stage 0" and talks to the stasis parent over it:
//
//   parent -> stage0   NS_PATH "type:path" (repeated, in join order)
//   parent -> stage0   CLONE_FLAGS u32 (namespaces to create)
//   parent -> stage0   TIMENS_OFFSETS        (optional: the new time
//                                            namespace gets offsets)
//   parent -> stage0   END
//   stage0             open every path, then setns each in order (typed:
//                      a path of another namespace type is refused)
//   stage0             unshare(CLONE_NEWUSER) if asked, then
//   stage0 -> parent   USERMAP_REQ i32 pid   (parent writes uid/gid maps)
//   parent -> stage0   USERMAP_ACK
//   stage0             in a user namespace (joined or new): become its root
//   stage0             unshare(other flags)
//   stage0 -> parent   TIMENS_REQ i32 pid    (if asked: parent writes
//   parent -> stage0   TIMENS_ACK             /proc/pid/timens_offsets)
//   stage0             clone(CLONE_PARENT) -> stage 1
//   stage0 -> parent   CHILD_PID i32 pid     (stage 1, as seen by the parent)
//   stage0             _exit(0)
//   stage 1            returns into the Go runtime: the container init
//
// On any failure stage 0 sends ERROR "text" and exits 1.
// The message layout (u32 type, u32 length, payload) is mirrored in
// bootstrap.go; keep the two in step.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

enum {
	MSG_NS_PATH = 1,
	MSG_CLONE_FLAGS = 2,
	MSG_END = 3,
	MSG_TIMENS_OFFSETS = 4,
	MSG_USERMAP_REQ = 10,
	MSG_CHILD_PID = 11,
	MSG_ERROR = 12,
	MSG_TIMENS_REQ = 13,
	MSG_USERMAP_ACK = 20,
	MSG_TIMENS_ACK = 21,
};

#define MAX_NS 16
#define MAX_PAYLOAD 4096

struct msghdr_s {
	uint32_t type;
	uint32_t len;
};

static int sockfd = -1;

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EPIPE;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void send_msg(uint32_t type, const void *payload, uint32_t len)
{
	struct msghdr_s h = {.type = type, .len = len};
	if (write_all(sockfd, &h, sizeof(h)) < 0 || (len && write_all(sockfd, payload, len) < 0))
		_exit(1);
}

// bail reports a failure to the parent in the form "what: strerror".
__attribute__((noreturn, format(printf, 1, 2))) static void bail(const char *fmt, ...)
{
	char buf[MAX_PAYLOAD];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (saved && (size_t)n < sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s", strerror(saved));
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	send_msg(MSG_ERROR, buf, (uint32_t)n);
	_exit(1);
}

static uint32_t recv_msg(char *payload, uint32_t *len)
{
	struct msghdr_s h;
	if (read_all(sockfd, &h, sizeof(h)) < 0)
		bail("read bootstrap header");
	if (h.len >= MAX_PAYLOAD) {
		errno = 0;
		bail("bootstrap message too long (%u bytes)", h.len);
	}
	if (h.len && read_all(sockfd, payload, h.len) < 0)
		bail("read bootstrap payload");
	payload[h.len] = '\0';
	*len = h.len;
	return h.type;
}

struct ns_join {
	char spec[MAX_PAYLOAD]; // "type:path"
	int fd;
	int nstype;
};

// nstype_of maps an OCI namespace type to its CLONE_NEW* flag, so setns
// refuses a path of another type instead of silently joining it.
static int nstype_of(const char *spec, size_t len)
{
	static const struct {
		const char *name;
		int flag;
	} types[] = {
		{"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},	    {"uts", CLONE_NEWUTS},
		{"network", CLONE_NEWNET}, {"pid", CLONE_NEWPID},   {"cgroup", CLONE_NEWCGROUP},
		{"time", CLONE_NEWTIME},   {"mount", CLONE_NEWNS},
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i].name) == len && strncmp(types[i].name, spec, len) == 0)
			return types[i].flag;
	return -1;
}

static struct ns_join joins[MAX_NS];
static int njoins;
static jmp_buf stage1_env;

// Stage 1 runs on a small stack of its own until it jumps back to the
// constructor's frame (its own copy of the address space, no CLONE_VM).
static int stage1_entry(void *arg)
{
	(void)arg;
	longjmp(stage1_env, 1);
	return 0;
}

static pid_t clone_parent(void)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	return clone(stage1_entry, stack + sizeof(stack), CLONE_PARENT | SIGCHLD, NULL);
}

__attribute__((constructor)) static void stasis_nsenter(void)
{
	const char *env = getenv("_STASIS_INIT_SOCK");
	if (env == NULL || *env == '\0')
		return;
	sockfd = atoi(env);
	if (sockfd <= 2)
		return;

	// Until it execs the user's program, this process (and the init it
	// clones) holds fds into the host: the protocol socket, the sealed
	// binary. Non-dumpable, a container process cannot ptrace it or open
	// its /proc files to take them (runc does the same for
	// CVE-2016-9962). execve makes the user's program dumpable again.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bail("prctl(PR_SET_DUMPABLE)");

	char payload[MAX_PAYLOAD];
	uint32_t len, flags = 0;
	int joined_user = 0, want_timens = 0;
	for (;;) {
		uint32_t type = recv_msg(payload, &len);
		if (type == MSG_END)
			break;
		switch (type) {
		case MSG_NS_PATH:
			if (njoins >= MAX_NS) {
				errno = 0;
				bail("too many namespaces to join");
			}
			memcpy(joins[njoins].spec, payload, len + 1);
			njoins++;
			break;
		case MSG_CLONE_FLAGS:
			if (len != sizeof(flags)) {
				errno = 0;
				bail("bad clone flags message");
			}
			memcpy(&flags, payload, sizeof(flags));
			break;
		case MSG_TIMENS_OFFSETS:
			want_timens = 1;
			break;
		default:
			errno = 0;
			bail("unexpected bootstrap message %u", type);
		}
	}

	// Open every path before joining any: once we are in another mount or
	// user namespace the host paths may no longer resolve.
	for (int i = 0; i < njoins; i++) {
		char *path = strchr(joins[i].spec, ':');
		if (path == NULL) {
			errno = 0;
			bail("bad namespace spec %s", joins[i].spec);
		}
		joins[i].nstype = nstype_of(joins[i].spec, (size_t)(path - joins[i].spec));
		if (joins[i].nstype < 0) {
			errno = 0;
			bail("unknown namespace type in %s", joins[i].spec);
		}
		joins[i].fd = open(path + 1, O_RDONLY | O_CLOEXEC);
		if (joins[i].fd < 0)
			bail("open %.*s namespace %s", (int)(path - joins[i].spec), joins[i].spec, path + 1);
	}
	for (int i = 0; i < njoins; i++) {
		char *path = strchr(joins[i].spec, ':');
		if (setns(joins[i].fd, joins[i].nstype) < 0)
			bail("join %.*s namespace %s", (int)(path - joins[i].spec), joins[i].spec, path + 1);
		close(joins[i].fd);
		if (joins[i].nstype == CLONE_NEWUSER)
			joined_user = 1;
	}

	if (flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("create user namespace");
		int32_t self = getpid();
		send_msg(MSG_USERMAP_REQ, &self, sizeof(self));
		if (recv_msg(payload, &len) != MSG_USERMAP_ACK) {
			errno = 0;
			bail("parent did not acknowledge the id mappings");
		}
		flags &= ~(uint32_t)CLONE_NEWUSER;
		joined_user = 1;
	}
	// Become root of the user namespace we are now in (the maps of a new
	// one are written by now): otherwise our host uid may be unmapped
	// there and every file we create fails with EOVERFLOW.
	if (joined_user) {
		if (setresgid(0, 0, 0) < 0)
			bail("setresgid 0 in the container's user namespace (is 0 mapped?)");
		if (setresuid(0, 0, 0) < 0)
			bail("setresuid 0 in the container's user namespace (is 0 mapped?)");
	}
	if (flags && unshare((int)flags) < 0)
		bail("create namespaces (flags %#x)", flags);
	// Offsets can be set only until a process enters the new time
	// namespace, and stage 1 enters it when it is cloned. The parent
	// writes them: in a new user namespace we are root of it, yet our
	// /proc files (non-dumpable) belong to the host's root.
	if (want_timens) {
		if (!(flags & CLONE_NEWTIME)) {
			errno = 0;
			bail("time offsets without a new time namespace");
		}
		int32_t self = getpid();
		send_msg(MSG_TIMENS_REQ, &self, sizeof(self));
		if (recv_msg(payload, &len) != MSG_TIMENS_ACK) {
			errno = 0;
			bail("parent did not acknowledge the time offsets");
		}
	}

	if (setjmp(stage1_env) == 1) {
		// Stage 1: the container init. The Go runtime takes over from here.
		return;
	}
	pid_t child = clone_parent();
	if (child < 0)
		bail("clone container init");
	int32_t pid = child;
	send_msg(MSG_CHILD_PID, &pid, sizeof(pid));
	_exit(0);
}
