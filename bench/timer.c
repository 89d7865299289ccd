/* timer: runs a command and writes "WALL_NS MAXRSS_KIB STATUS\n" to a file.
 *
 *   timer RESULT_FILE COMMAND [ARG...]
 *
 * Why not time the command from Python with os.wait4: exec records the
 * high-water RSS of the memory the child had before the exec (with fork or
 * vfork, a copy of the parent's, or the parent's own) in the child's
 * ru_maxrss, so any child of a 20 MiB Python reports at least 20 MiB. This
 * program is small, so its child's ru_maxrss is the command's own (what
 * /usr/bin/time reports too), and the clock covers fork to reap only.
 *
 * WALL_NS: CLOCK_MONOTONIC nanoseconds from just before fork() to wait4()'s
 * return. STATUS: the exit code, or 128 + the signal that ended it. Exit
 * status of timer itself: 0 when it wrote the result, 127 otherwise. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: timer RESULT_FILE COMMAND [ARG...]\n");
        return 127;
    }
    FILE *result = fopen(argv[1], "w");
    if (!result) {
        perror(argv[1]);
        return 127;
    }
    long long start = now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 127;
    }
    if (pid == 0) {
        execv(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("wait4");
        return 127;
    }
    long long wall = now_ns() - start;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(result, "%lld %ld %d\n", wall, ru.ru_maxrss, code);
    return fclose(result) == 0 ? 0 : 127;
}
