/* The HTTP wrapper against a small server on 127.0.0.1 in a child process
 * that answers each request with what it received ("METHOD BODYLEN BODY"),
 * on one kept-alive connection: a request after a POST on the same client
 * sends no body, the caller's body buffer is not used after its request, and
 * an option libcurl refuses is an error that names it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "http.h"

#define IO_TIMEOUT_MS 10000
#define HEAD_MAX 8192

/* Reads into buf (size) until the head is complete; returns the bytes held
 * or -1 (EOF, timeout, too big). */
static ssize_t read_head(int fd, char *buf, size_t size, size_t have)
{
	while (!memmem(buf, have, "\r\n\r\n", 4)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (have + 1 >= size || poll(&p, 1, IO_TIMEOUT_MS) != 1)
			return -1;
		n = read(fd, buf + have, size - have - 1);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return (ssize_t)have;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One connection: every request is answered with its method and body. */
static void serve_connection(int fd)
{
	char buf[HEAD_MAX + 1];
	size_t have = 0;

	for (int requests = 0; requests < 64; requests++) {
		char method[16] = "", echo[HEAD_MAX + 64], reply[HEAD_MAX + 128], *end, *cl;
		size_t head_len, body_len = 0;
		ssize_t got = read_head(fd, buf, sizeof(buf), have);
		int len, blen;

		if (got < 0)
			return;
		have = (size_t)got;
		buf[have] = '\0';
		end = memmem(buf, have, "\r\n\r\n", 4);
		head_len = (size_t)(end - buf) + 4;
		sscanf(buf, "%15s", method);
		*end = '\0';
		cl = strcasestr(buf, "\r\nContent-Length:");
		if (cl)
			body_len = strtoul(cl + 17, NULL, 10);
		if (body_len > HEAD_MAX - head_len)
			return;
		while (have < head_len + body_len) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ssize_t n;

			if (poll(&p, 1, IO_TIMEOUT_MS) != 1)
				return;
			n = read(fd, buf + have, sizeof(buf) - 1 - have);
			if (n <= 0)
				return;
			have += (size_t)n;
		}
		blen = snprintf(echo, sizeof(echo), "%s %zu %.*s", method, body_len,
				(int)body_len, buf + head_len);
		len = snprintf(reply, sizeof(reply), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
			       "\r\n%s", blen, echo);
		if (blen < 0 || len < 0 || write_all(fd, reply, (size_t)len) < 0)
			return;
		memmove(buf, buf + head_len + body_len, have - head_len - body_len);
		have -= head_len + body_len;
	}
}

static void serve(int lfd)
{
	for (int conns = 0; conns < 16; conns++) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int fd;

		if (poll(&p, 1, IO_TIMEOUT_MS) != 1)
			return;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return;
		serve_connection(fd);
		close(fd);
	}
}

/* A request whose answer must be exactly want. */
static int ask(struct http_client *c, const char *method, const char *url, const char *body,
	       const char *want, const char *name)
{
	struct http_response res;
	int r = http_request(c, method, url, NULL, body, 4096, &res);

	CHECK(r == 0 && res.status == 200 && !strcmp(res.body, want), "%s: %s", name,
	      r == 0 ? res.body : http_client_error(c));
	if (r == 0)
		http_response_clear(&res);
	return r;
}

int main(void)
{
	struct http_options ho = { .user_agent = "test", .connect_timeout_s = 5,
				   .total_timeout_s = 10 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct http_response res;
	struct http_client *c;
	struct http_stats st;
	char url[64], *body, *huge;
	int lfd, r, status;
	pid_t pid;

	/* listening before the fork: the client's connect cannot race it */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		perror("listen");
		return 1;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", ntohs(sa.sin_port));
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		serve(lfd);
		_exit(0);
	}
	close(lfd);

	http_global_init();
	c = http_client_new(&ho);
	CHECK(c != NULL, "client");
	if (!c)
		return 1;
	/* a body the caller frees as soon as its request returns */
	body = strdup("a=1&b=2");
	ask(c, "POST", url, body, "POST 7 a=1&b=2", "POST with a body");
	memset(body, 'X', strlen(body));
	free(body);
	ask(c, NULL, url, NULL, "GET 0 ", "GET after a POST sends no body");
	ask(c, "PUT", url, NULL, "PUT 0 ", "PUT without a body after a POST sends none");
	ask(c, "POST", url, "x", "POST 1 x", "a second POST sends its own body");
	ask(c, "POST", url, NULL, "POST 0 ", "POST without a body after a POST sends none");
	ask(c, NULL, url, NULL, "GET 0 ", "GET again");

	/* libcurl refuses strings over 8 MB (CURL_MAX_INPUT_LENGTH) */
	huge = malloc(9 * 1024 * 1024);
	if (huge) {
		memset(huge, 'a', 9 * 1024 * 1024 - 1);
		memcpy(huge, "http://", 7);
		huge[9 * 1024 * 1024 - 1] = '\0';
		r = http_request(c, NULL, huge, NULL, NULL, 4096, &res);
		CHECK(r == HAIL_E_INTERNAL && strstr(http_client_error(c), "CURLOPT_URL") &&
		      !res.body, "a refused option is an error naming it: %s", http_client_error(c));
		free(huge);
	}
	ask(c, NULL, url, NULL, "GET 0 ", "the client works after a refused option");
	http_client_stats(c, &st);
	CHECK(st.requests == 7, "request counter: %lu", st.requests);
	http_client_free(c);
	http_global_cleanup();

	kill(pid, SIGTERM);
	r = waitpid(pid, &status, 0);
	CHECK(r == pid, "server reaped");
	return check_exit();
}
