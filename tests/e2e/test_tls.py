"""HTTPS as production sees it: a Hydra behind a private CA (--ca-file), a
server that closes idle kept-alive connections with a TLS close_notify (as
nginx does after its keepalive_timeout; libcurl 7.88 then failed every sixth
poll, curl issue 18926), every reconnect resumed, a kept-alive connection
reused. The TLS Hydra stand-in counts handshakes and resumptions."""
import os

from harness import Hydra, make_test_ca, run_tests, wait_for

STATS_POLLS = 8     # more than the five dead reuses after which 7.88 gave up


def tls_world(w, idle_close=None):
    """A TLS Hydra on the builder's cache, the client's Nix pointed at it
    (Nix trusts the test CA through NIX_SSL_CERT_FILE, hail through
    --ca-file); returns (hydra, ca_pem, env)."""
    ca, cert, key = make_test_ca(os.path.join(w.root, "ca"))
    hydra = Hydra(w.root, w.builder.cache, tls=(cert, key), idle_close=idle_close,
                  name="hydra-tls")
    w.extra_standins = getattr(w, "extra_standins", []) + [hydra]
    with open("/etc/nix/nix.conf") as f:
        conf = f.read()
    with open("/etc/nix/nix.conf", "w") as f:
        f.write(conf.replace(f"substituters = {w.hydra.url}", f"substituters = {hydra.url}"))
    return hydra, ca, w.client.env(NIX_SSL_CERT_FILE=ca)


def publish(w, hydra, version):
    out = w.build(version)
    hydra.publish(out)
    return out


def polls(hydra):
    return len([r for r in hydra.stats() if r["path"].endswith("/latest") and r["status"]])


def args(hydra, ca, *extra):
    return ["--profile", "demo", "--job-uri", hydra.job_uri, "--netrc-file",
            "/etc/nix/netrc", "--ca-file", ca, *extra]


def stop_all(w):
    for s in getattr(w, "extra_standins", []):
        s.stop()


def test_private_ca_is_trusted_with_ca_file(w):
    hydra, ca, env = tls_world(w)
    try:
        out = publish(w, hydra, 1)
        a = w.client.start(raw_args=[a for a in args(hydra, ca, "--oneshot")
                                     if a not in ("--ca-file", ca)], env=env)
        assert a.wait() == 3, a.text()
        assert "SSL certificate problem" in a.text(), a.text()
        assert w.client.profile_target() is None
        a = w.client.start(raw_args=args(hydra, ca, "--oneshot"), env=env)
        assert a.wait() == 0, a.text()
        assert w.client.profile_target() == out
    finally:
        stop_all(w)


def test_a_bad_ca_file_is_a_usage_error(w):
    hydra, ca, env = tls_world(w)
    try:
        bad = os.path.join(w.root, "bad.pem")
        with open(bad, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        a = w.client.start(raw_args=args(hydra, bad, "--oneshot"), env=env)
        assert a.wait() == 2, a.text()
        assert f"ca-file {bad}: holds no PEM certificate" in a.text(), a.text()
    finally:
        stop_all(w)


def test_close_notify_on_idle_connections_every_poll(w):
    """The server closes each idle connection (close_notify) before the next
    poll: every poll reconnects, none fails, every reconnect is resumed."""
    hydra, ca, env = tls_world(w, idle_close=0.3)
    try:
        publish(w, hydra, 1)
        agent = w.client.start(raw_args=args(hydra, ca, "--poll-period", "1s"), env=env)
        agent.wait_log(r"activated build 1 ")
        hydra.reset_stats()
        hydra.reset_tls()
        wait_for(lambda: polls(hydra) >= STATS_POLLS, 30, f"{STATS_POLLS} idle polls")
        assert agent.stop() == 0
        assert "error" not in agent.text(), agent.text()
        tls = hydra.tls_stats()
        assert tls["idle_closes"] >= STATS_POLLS - 1, tls
        assert tls["handshakes"] >= STATS_POLLS - 1, tls
        assert tls["resumed"] == tls["handshakes"], tls     # every reconnect resumed
    finally:
        stop_all(w)


def test_a_kept_alive_connection_is_reused(w):
    hydra, ca, env = tls_world(w, idle_close=60)
    try:
        publish(w, hydra, 1)
        agent = w.client.start(raw_args=args(hydra, ca, "--poll-period", "1s"), env=env)
        agent.wait_log(r"activated build 1 ")
        hydra.reset_stats()
        hydra.reset_tls()
        wait_for(lambda: polls(hydra) >= 4, 20, "4 idle polls")
        assert agent.stop() == 0
        assert hydra.tls_stats()["handshakes"] == 0, hydra.tls_stats()
    finally:
        stop_all(w)


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
