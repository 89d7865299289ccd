"""Proxies from the environment (http_proxy, HTTP_PROXY, all_proxy, as many
corporate images set them): IMDS, which is link-local and answers only the
instance itself, is never asked through one; Hydra (and Nix) follow them as
libcurl does. The proxy here is a closed port on 127.0.0.1: whatever goes
through it fails at once, naming that port."""
import json
import socket

from harness import HAIL, PASSWORD, USER, run_tests

FRESH = {"fresh_instance": True}
TAGS = ["--tags-enabled"]


def dead_proxy():
    """A bound, never listening socket: connections to its port are refused
    for as long as it is kept (no other process can take the port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, "http://127.0.0.1:%d" % s.getsockname()[1]


def proxy_env(w, proxy, no_proxy=None):
    env = w.client.env(http_proxy=proxy, HTTP_PROXY=proxy, https_proxy=proxy,
                       HTTPS_PROXY=proxy, all_proxy=proxy, ALL_PROXY=proxy)
    if no_proxy:
        env.update(no_proxy=no_proxy, NO_PROXY=no_proxy)
    return env


def local_url(w):
    """The Hydra stand-in as http://localhost:PORT, which no_proxy=localhost
    exempts while IMDS stays on 127.0.0.1."""
    return "http://localhost:%d" % w.hydra.port


def test_bootstrap_reads_imds_past_the_proxy(w):
    sock, proxy = dead_proxy()
    try:
        out = w.publish(1)
        hydra = local_url(w)
        w.imds.set_user_data(json.dumps({"hail": {
            "job-uri": hydra + "/job/proj/main/demo", "profile": "demo",
            "netrc": f"machine localhost login {USER} password {PASSWORD}\n",
            "substituters": [hydra], "trusted-public-keys": [w.builder.public_key]}}))
        a = w.client.bootstrap("--imds-endpoint", w.imds.url, "--handoff", "none",
                               "--wait", "10s", "--hail", HAIL,
                               env=proxy_env(w, proxy, "localhost"))
        rc = a.wait(60)
        log = a.text()
        assert rc == 0, log
        assert w.client.profile_target() == out, log
        reqs = [(r["method"], r["path"], r["status"]) for r in w.imds.stats()]
        assert ("PUT", "/latest/api/token", 200) in reqs, reqs
        assert ("GET", "/latest/user-data", 200) in reqs, reqs
        assert proxy.split("//")[1] not in log, log
    finally:
        sock.close()
test_bootstrap_reads_imds_past_the_proxy.client_kw = FRESH
test_bootstrap_reads_imds_past_the_proxy.imds_args = []


def test_agent_reads_tags_past_the_proxy_and_hydra_follows_it(w):
    sock, proxy = dead_proxy()
    try:
        v1 = w.publish(1)
        assert w.client.oneshot()[0] == 0
        w.publish(2)
        w.imds.set_tags({"hail:pause": "true"})
        with open(w.client.netrc, "a") as f:
            f.write(f"machine localhost login {USER} password {PASSWORD}\n")
        args = ["--oneshot", "--profile", "demo", "--netrc-file", w.client.netrc,
                "--imds-endpoint", w.imds.url]
        w.imds.reset_stats()
        a = w.client.start(raw_args=args + ["--job-uri", local_url(w) + "/job/proj/main/demo"],
                           env=proxy_env(w, proxy, "localhost"))
        rc = a.wait(60)
        log = a.text()
        assert rc == 8 and "is paused: not on build 2" in log, log
        assert w.client.profile_target() == v1
        tags = [r for r in w.imds.stats() if r["path"].startswith("/latest/meta-data/tags/")]
        assert tags and all(r["status"] == 200 for r in tags), tags
        # without no_proxy the Hydra requests go to the proxy, as before
        a = w.client.start(raw_args=args + ["--job-uri", w.hydra.job_uri],
                           env=proxy_env(w, proxy))
        rc = a.wait(60)
        log = a.text()
        assert rc == 3, log
        assert "/latest: Failed to connect to 127.0.0.1 port %s" % proxy.rsplit(":", 1)[1] in log, log
    finally:
        sock.close()
test_agent_reads_tags_past_the_proxy_and_hydra_follows_it.imds_args = TAGS


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
