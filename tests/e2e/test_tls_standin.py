"""The stand-ins' TLS (--tls-cert/--tls-key) and idle close (--idle-close), checked
with clients other than hail (Python's ssl, curl, botocore's signer): the test CA
from harness.make_test_ca is trusted and nothing else is, a second connection of
one client resumes its TLS session, an idle connection ends with a TLS
close_notify (a clean EOF, not a reset), and GET /tls counts it all. hail's own
HTTPS is tested elsewhere against these stand-ins."""
import base64
import http.client
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import JOB, PASSWORD, USER, Aws, Hydra, make_test_ca, run, run_tests, wait_for

AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
IDLE = 0.5          # --idle-close in these tests, seconds


def ca_of(w):
    """The world's test CA, made once per world."""
    if not hasattr(w, "test_ca"):
        w.test_ca = make_test_ca(os.path.join(w.root, "ca"))
    return w.test_ca


def tls_hydra(w, idle_close=None, name="hydra-tls"):
    ca, cert, key = ca_of(w)
    h = Hydra(w.root, w.builder.cache, tls=(cert, key), idle_close=idle_close, name=name)
    w.extra_standins = getattr(w, "extra_standins", []) + [h]
    return h


def client_context(ca):
    """Verifies the stand-in's certificate (and its name) against ca only."""
    return ssl.create_default_context(cafile=ca)


def connect(port, ctx, session=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    # suppress_ragged_eofs=False: a TCP close without close_notify raises
    # SSLEOFError instead of looking like a clean b"" (closed_cleanly)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session,
                           suppress_ragged_eofs=False)


def request(sock, path, keep_alive=True):
    """One GET on sock; returns (status line, headers, body). Reads exactly the
    response (Content-Length), so the connection stays usable."""
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH}\r\n"
                  f"Accept: application/json\r\n"
                  f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}\r\n")
                 .encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed in the headers: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the body"
        body += chunk
    return lines[0], headers, body


def closed_cleanly(sock, timeout):
    """Waits for the server to close; returns (how, seconds): "close_notify" when
    recv gives b"" (Python's ssl raises SSLEOFError on a TCP close without
    close_notify), "eof-without-close_notify", "reset", or "open" (timed out)."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    try:
        data = sock.recv(1)
        how = "close_notify" if data == b"" else f"data {data!r}"
    except ssl.SSLEOFError:
        how = "eof-without-close_notify"
    except ConnectionResetError:
        how = "reset"
    except TimeoutError:
        how = "open"
    return how, time.monotonic() - t0


# --- TLS with the test CA ------------------------------------------------------

def test_https_with_the_test_ca(w):
    out = w.publish(1)
    h = tls_hydra(w)
    h.publish(out)
    ca, _, _ = ca_of(w)
    with open(h.port_file) as f:
        assert json.load(f)["tls"] is True
    assert h.url.startswith("https://127.0.0.1:"), h.url
    assert "tls" not in json.load(open(w.hydra.port_file)), "plain stand-in changed"
    assert w.hydra.url.startswith("http://"), w.hydra.url
    # Python's ssl, verifying the certificate and its 127.0.0.1 name
    s = connect(h.port, client_context(ca))
    assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
    status, headers, _ = request(s, f"/job/{JOB}/latest")
    assert status.split()[1] == "302", status
    assert headers["location"] == f"{h.url}/build/1", headers
    status, headers, body = request(s, "/build/1")
    assert status.split()[1] == "200" and json.loads(body)["buildoutputs"]["out"]["path"] == out
    s.close()
    # curl with --cacert, by both names in the certificate
    for host in ("127.0.0.1", "localhost"):
        r = run(["curl", "-sS", "--cacert", ca, "-u", f"{USER}:{PASSWORD}", "-o", "/dev/null",
                 "-w", "%{http_code} %{redirect_url}",
                 f"https://{host}:{h.port}/job/{JOB}/latest"])
        assert r.stdout == f"302 {h.url}/build/1", r.stdout
    # without the test CA: refused by the client, the stand-in carries on
    r = run(["curl", "-sS", "-o", "/dev/null", f"{h.url}/nix-cache-info"], check=False)
    assert r.returncode == 60, (r.returncode, r.stderr)      # peer certificate unverified
    try:
        connect(h.port, ssl.create_default_context())
        raise AssertionError("the system CAs accepted the test certificate")
    except ssl.SSLCertVerificationError:
        pass
    # plain HTTP to the TLS port is not served; the control server stays plain
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{h.port}/nix-cache-info", timeout=10)
        raise AssertionError("plain HTTP answered on the TLS port")
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError):
        pass
    r = run(["curl", "-sS", "--cacert", ca, "-u", f"{USER}:{PASSWORD}",
             f"{h.url}/nix-cache-info"])
    assert r.stdout.startswith("StoreDir: /nix/store"), r.stdout
    assert h.tls_stats()["handshakes"] == 4, h.tls_stats()    # the failed ones not


# --- resumption ------------------------------------------------------------------

def test_a_second_connection_is_resumed(w):
    h = tls_hydra(w)
    ca, _, _ = ca_of(w)
    # curl: two URLs in one invocation, each on its own connection
    # ("Connection: close"; --no-keepalive is about TCP keep-alive probes)
    for version in ("--tlsv1.3", "--tlsv1.2 --tls-max 1.2"):
        h.reset_tls()
        r = run(["curl", "-sS", *version.split(), "--cacert", ca, "-u", f"{USER}:{PASSWORD}",
                 "-H", "Connection: close", "-o", "/dev/null", "-o", "/dev/null",
                 "-w", "%{num_connects}\n", f"{h.url}/nix-cache-info", f"{h.url}/nix-cache-info"])
        assert r.stdout.split() == ["1", "1"], (version, r.stdout)
        assert h.tls_stats() == {"handshakes": 2, "resumed": 1, "idle_closes": 0}, \
            (version, h.tls_stats())
    # Python's ssl: the session of the first connection given to the second
    h.reset_tls()
    ctx = client_context(ca)
    first = connect(h.port, ctx)
    assert not first.session_reused
    request(first, "/nix-cache-info")       # TLS 1.3: the ticket came with the answer
    session = first.session
    first.close()
    second = connect(h.port, ctx, session=session)
    assert second.session_reused, second.version()
    request(second, "/nix-cache-info")
    second.close()
    # a fresh client has no session to offer
    third = connect(h.port, client_context(ca))
    assert not third.session_reused
    third.close()
    wait_for(lambda: h.tls_stats()["handshakes"] == 3, 5, "3 handshakes counted")
    assert h.tls_stats() == {"handshakes": 3, "resumed": 1, "idle_closes": 0}, h.tls_stats()


# --- idle close ------------------------------------------------------------------

def test_idle_close_sends_close_notify(w):
    h = tls_hydra(w, idle_close=IDLE)
    ca, _, _ = ca_of(w)
    s = connect(h.port, client_context(ca))
    request(s, "/nix-cache-info")
    # requests closer together than the idle time keep the connection
    for _ in range(3):
        time.sleep(IDLE / 3)                # the gap under test, not synchronisation
        status, _, _ = request(s, "/nix-cache-info")
        assert status.split()[1] == "200", status
    how, waited = closed_cleanly(s, timeout=10)
    s.close()
    assert how == "close_notify", how
    assert IDLE * 0.8 <= waited < IDLE + 3, waited
    assert h.tls_stats() == {"handshakes": 1, "resumed": 0, "idle_closes": 1}, h.tls_stats()
    # also a connection that never asks anything
    s = connect(h.port, client_context(ca))
    how, _ = closed_cleanly(s, timeout=10)
    s.close()
    assert how == "close_notify", how


def test_idle_close_without_tls(w):
    h = Hydra(w.root, w.builder.cache, idle_close=IDLE, name="hydra-idle")
    w.extra_standins = [h]
    with open(h.port_file) as f:
        assert "tls" not in json.load(f)
    s = socket.create_connection(("127.0.0.1", h.port), timeout=10)
    status, _, _ = request(s, "/nix-cache-info")
    assert status.split()[1] == "200", status
    t0 = time.monotonic()
    assert s.recv(1) == b""                 # FIN, no reset
    waited = time.monotonic() - t0
    s.close()
    assert IDLE * 0.8 <= waited < IDLE + 3, waited
    assert h.tls_stats() == {"handshakes": 0, "resumed": 0, "idle_closes": 1}, h.tls_stats()


def test_the_default_stand_in_keeps_idle_connections(w):
    """Without --idle-close a connection idle longer than the tests' idle time
    stays open, as before."""
    s = socket.create_connection(("127.0.0.1", w.hydra.port), timeout=10)
    request(s, "/nix-cache-info")
    s.settimeout(IDLE * 3)
    try:
        data = s.recv(1)
        raise AssertionError(f"the default stand-in closed or sent {data!r}")
    except TimeoutError:
        pass
    status, _, _ = request(s, "/nix-cache-info")
    assert status.split()[1] == "200", status
    s.close()
    assert w.hydra.tls_stats() == {"handshakes": 0, "resumed": 0, "idle_closes": 0}


# --- faults and counters over TLS --------------------------------------------------

def test_faults_over_tls(w):
    h = tls_hydra(w)
    ca, _, _ = ca_of(w)
    h.fault("reset", target="any", count=1)
    r = run(["curl", "-sS", "--cacert", ca, "-u", f"{USER}:{PASSWORD}", "-o", "/dev/null",
             f"{h.url}/nix-cache-info"], check=False)
    assert r.returncode in (35, 52, 56), (r.returncode, r.stderr)   # reset, not an answer
    h.fault("503", target="any", count=1)
    r = run(["curl", "-sS", "--cacert", ca, "-u", f"{USER}:{PASSWORD}", "-o", "/dev/null",
             "-w", "%{http_code}", f"{h.url}/nix-cache-info"])
    assert r.stdout == "503", r.stdout
    h.fault("redirect-loop", target="latest", count=1)
    r = run(["curl", "-sS", "--cacert", ca, "-u", f"{USER}:{PASSWORD}", "-o", "/dev/null",
             "-w", "%{redirect_url}", f"{h.url}/job/{JOB}/latest"])
    assert r.stdout == f"{h.url}/job/{JOB}/latest", r.stdout
    stats = h.tls_stats()
    assert stats["handshakes"] == 3 and stats["idle_closes"] == 0, stats
    h.reset_tls()
    assert h.tls_stats() == {"handshakes": 0, "resumed": 0, "idle_closes": 0}


def test_aws_stand_in_over_tls(w):
    ca, cert, key = ca_of(w)
    aws = Aws(w.root, tls=(cert, key), idle_close=IDLE, name="aws-tls")
    w.extra_standins = [aws]
    assert aws.url.startswith("https://127.0.0.1:"), aws.url
    creds = Credentials("AKIDHAILTEST0001", "hail/test+secret", None)
    aws.configure(credentials=[{"AccessKeyId": creds.access_key,
                                "SecretAccessKey": creds.secret_key}],
                  parameters={"/hail/control": {"Type": "String", "Value": "{}"}})
    body = json.dumps({"Name": "/hail/control", "WithDecryption": True}).encode()
    req = AWSRequest(method="POST", url=aws.url + "/", data=body, headers={
        "X-Amz-Target": "AmazonSSM.GetParameter",
        "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(creds, "ssm", "eu-west-1").add_auth(req)
    prepared = req.prepare()
    ctx = client_context(ca)
    for _ in range(2):                  # the second on a new connection, resumed
        u = urllib.request.Request(prepared.url, data=body, method="POST",
                                   headers=dict(prepared.headers))
        with urllib.request.urlopen(u, timeout=10, context=ctx) as r:
            assert json.loads(r.read())["Parameter"]["Value"] == "{}"
    calls = aws.calls()
    assert [c["auth"] for c in calls] == ["ok", "ok"], calls
    # urllib makes a new SSLSocket per request, without the old session
    stats = aws.tls_stats()
    assert stats["handshakes"] == 2, stats
    # keep-alive, idle close with close_notify, resumption: as the Hydra stand-in
    aws.reset_tls()
    s = connect(aws.port, ctx)
    s.sendall(b"GET /?Action=DescribeAutoScalingInstances&Version=2011-01-01 HTTP/1.1\r\n"
              b"Host: 127.0.0.1\r\n\r\n")
    data = b""
    while b"</ErrorResponse>" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    assert b"MissingAuthenticationToken" in data, data
    session = s.session
    how, _ = closed_cleanly(s, timeout=10)
    s.close()
    assert how == "close_notify", how
    s = connect(aws.port, ctx, session=session)
    assert s.session_reused
    s.close()
    wait_for(lambda: aws.tls_stats()["handshakes"] == 2, 5, "2 handshakes counted")
    stats = aws.tls_stats()
    assert stats["resumed"] == 1 and stats["idle_closes"] == 1, stats
    # the plain AWS stand-in is unchanged
    plain = Aws(w.root, name="aws-plain")
    w.extra_standins.append(plain)
    assert plain.url.startswith("http://") and plain.tls_stats()["handshakes"] == 0


def stopping_standins(test):
    """test, stopping the stand-ins it started (w.extra_standins) at its end."""
    def wrapped(w):
        try:
            test(w)
        finally:
            for standin in getattr(w, "extra_standins", []):
                standin.stop()
    wrapped.__name__ = test.__name__
    return wrapped


def main():
    tests = [test_https_with_the_test_ca, test_a_second_connection_is_resumed,
             test_idle_close_sends_close_notify, test_idle_close_without_tls,
             test_the_default_stand_in_keeps_idle_connections, test_faults_over_tls,
             test_aws_stand_in_over_tls]
    run_tests([stopping_standins(t) for t in tests])


if __name__ == "__main__":
    main()
