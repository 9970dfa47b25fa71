/*
 * spawn: run a command and report its wall time and peak RSS.
 *
 *   spawn FD PROG ARGS...
 *
 * forks (a real fork, not vfork), execs PROG in the child, waits for it and
 * writes "<nanoseconds> <maxrss KiB>\n" to fd FD; it exits with the child's
 * status (128+N if a signal N killed it).
 *
 * Why not time the runtimes from Go directly: Go starts children with
 * clone(CLONE_VM|CLONE_VFORK), and exec folds the shared (parent's) memory
 * high-water mark into the child's ru_maxrss, so every command would report
 * at least the bench's own RSS. Forked from this small static program, the
 * floor is this program's own few hundred KiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spawn FD PROG [ARGS...]\n");
		return 127;
	}
	int fd = atoi(argv[1]);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The raw syscall, so glibc's fork handlers do not run. */
	pid_t pid = (pid_t)syscall(SYS_fork);
	if (pid < 0) {
		perror("spawn: fork");
		return 127;
	}
	if (pid == 0) {
		close(fd);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "spawn: exec %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("spawn: wait4");
			return 127;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	dprintf(fd, "%lld %ld\n", ns, ru.ru_maxrss);
	close(fd);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 127;
}
