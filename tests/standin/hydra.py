#!/usr/bin/python3
"""Hydra stand-in for hail's end-to-end tests and benchmarks.

Python 3.11 standard library only (runs as /usr/bin/python3 on Debian 12).

Usage:
    python3 hydra.py --cache-dir DIR --user USER --password PASS --port-file FILE
                     [--location-base URL] [--tls-cert FILE --tls-key FILE]
                     [--idle-close SECONDS] [--quiet]

Two servers on 127.0.0.1, both on OS-picked ports, written to FILE (atomically)
as {"port": N, "control_port": M} once both listen (plus "tls": true with TLS):

TLS (--tls-cert and --tls-key, PEM, given together): the main server speaks
HTTPS only (TLS 1.2 or newer, session tickets on, so TLS 1.3 resumption works;
the session cache is the stand-in's, shared by all its connections); Location
URLs default to https://127.0.0.1:PORT. The control server stays plain HTTP.
Every connection the server closes (after an answer, a fault, idle) ends with
a TLS close_notify and then the TCP close, as nginx does; the "reset" fault
still sends an RST and nothing else.

--idle-close S: a connection that has no (further) request for S seconds
(a float) is closed by the server, as nginx does after keepalive_timeout:
with TLS a close_notify (not waiting for the client's), then the TCP close;
without TLS just the close. Without it, a connection may idle 120 s.

Main server: Hydra plus its binary cache, all behind HTTP basic auth, as a
private Hydra behind a reverse proxy is (shared/protocols.md, "Hydra"):
    GET /job/P/J/JOB/latest | /latest-finished | /latest-for/SYSTEM
        302 to an ABSOLUTE BASE/build/ID (BASE = --location-base or
        http(s)://127.0.0.1:PORT), or 404 with an HTML page.
    GET /build/ID        Build JSON with "Accept: application/json", else HTML.
    GET|HEAD /nix-cache-info, /HASH.narinfo, /nar/FILE   files of --cache-dir
        (as written by `nix copy --to file://DIR`).
    Anything else: 404.

Control server (no auth, JSON in and out, request bodies capped at 64 KiB):
    POST /unpublish      {"id": N}: the build is deleted (its id is not given again)
    POST /publish        {"job": "P/J/JOB", "out": PATH|null, "system", "finished",
                          "buildstatus", "eval_finished"} -> {"id": N}
    POST /eval-finished  {"id": N} -> {"ok": true}
    POST /fault          {"target", "kind", "count", "value"} -> the stored fault
    GET  /fault          -> {"faults": [...]} (the active faults)
    DELETE /fault, POST /fault/clear  -> clears all faults
    GET  /stats          -> {"requests": [{"method", "path", "status",
                             "body_bytes", "auth", "fault"}, ...]}
    POST /stats/reset    -> clears the request log
    GET  /builds         -> {"builds": [...]} (as published)
    GET  /tls            -> {"handshakes": N, "resumed": M, "idle_closes": K}: TLS
                            handshakes completed on the main server, those that
                            resumed a session (ssl_sock.session_reused), and
                            connections closed by --idle-close (also without TLS)
    POST /tls/reset      -> sets the three counters to 0
    POST /firewall       {"new_connections": "refuse"|"accept"}: as a stateful
                            firewall, the main server closes every new
                            connection at once (before TLS) while it refuses,
                            and keeps serving the established ones

Model: every publish is its own evaluation, whose id equals the build id; its
"eval_finished" flag says whether that whole evaluation is done, which is what
/latest-finished looks at (protocols.md: "the newest successful build whose
evaluation has no unfinished builds").

Faults: the newest active fault whose target matches the request wins (so a
counted fault can be laid over a standing one). A fault is used up only by a
request it actually applies to: "no-out", "bad-path", "null-path" and "huge"
apply only to a build's JSON (GET /build/ID with the JSON Accept header, known
ID); "moved" only to /job/P/J/JOB/... requests of a job other than the one it
moves to; every other kind applies to any request of its target. Faults are checked after auth,
except kind "401". Targets: "latest" = /job/..., "build" = /build/...,
"cache" = the three cache shapes, "any" = every main-server request.
Details beyond the brief:
  - "truncated" sends the normal answer's headers with its full Content-Length
    and half its body, then closes; an empty body (a 302) promises 64 bytes.
  - "hang" ends by closing the connection without an answer, also when the
    faults are cleared; "hang" and "slow" values are capped at 600 s.
  - "redirect-loop" points at http(s)://HOST/PATH?QUERY with the Host asked for.
  - "bad-path" puts any JSON value given (not only strings) in out.path.
  - "null-path" answers out.path null, as Hydra does for a content-addressed
    derivation whose output is not known yet (Build.pm).
  - "moved" is a renamed jobset (Controller/Job.pm): 301 Moved Permanently to
    LOCATION_BASE/job/VALUE/REST, REST being what followed the job in the
    request (latest, latest-finished, latest-for/SYSTEM); VALUE is the new
    "P/J/JOB" (default: the jobset renamed to "renamed"). Publish builds
    under the new name for it to answer. A VALUE starting with http:// or
    https:// is sent as the Location verbatim.
  - In /stats, "status" is null for "hang" and "reset" (nothing was sent);
    entries appear when a request arrives and are completed when it ends;
    each also names the fault applied ("fault": KIND or null).
"""

import argparse
import base64
import hashlib
import hmac
import html
import io
import json
import os
import re
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

CONTROL_BODY_MAX = 64 * 1024      # control requests (brief: capped at 64 KiB)
MAIN_BODY_DRAIN_MAX = 64 * 1024   # main-server request bodies read and dropped
IDLE_TIMEOUT = 120                # seconds a connection may sit idle or stall
MAX_DELAY = 600                   # upper bound for "hang" and "slow" values
MAX_HUGE = 16 * 1024 ** 3         # upper bound for the "huge" body size
CHUNK = 64 * 1024                 # streaming chunk for files and "huge"
PHANTOM_LENGTH = 64               # "truncated" on an empty body: promise this much
TLS_HANDSHAKE_TIMEOUT = 30        # seconds a client may take over its TLS handshake

TARGETS = ("latest", "build", "cache", "any")
STATUS_KINDS = ("401", "403", "404", "500", "503")
BUILD_JSON_KINDS = ("no-out", "bad-path", "null-path", "huge")   # only on a build's JSON
KINDS = STATUS_KINDS + BUILD_JSON_KINDS + (
    "nonjson", "truncated", "redirect-loop", "foreign-location",
    "bad-location", "hang", "reset", "slow", "moved")

DEFAULT_BAD_PATH = "/nix/store/../../etc; touch /tmp/pwned"
DEFAULT_MOVED_JOBSET = "renamed"
DEFAULT_HUGE = 64 * 1024 ** 2     # bytes
DEFAULT_HANG = 120                # seconds
DEFAULT_SLOW = 5                  # seconds
NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"   # protocols.md, store paths
STORE_PATH_RE = re.compile(r"^/nix/store/[%s]{32}-([A-Za-z0-9+\-._?=]+)$" % NIX_BASE32)
# Cache file names: [A-Za-z0-9._-] only, never starting with "." (so no "..").
CACHE_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
NARINFO_RE = re.compile(r"^[A-Za-z0-9]+\.narinfo$")
BUILD_ID_RE = re.compile(r"^[0-9]{1,18}$")    # ASCII digits, bounded
HOST_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")

STOP = threading.Event()          # set on SIGTERM/SIGINT: ends hangs and sleeps
QUIET = False


def log(line):
    if not QUIET:
        print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# State: builds, faults, request log. One RLock, flat critical sections only
# (testing.md: nested locking in a ThreadingHTTPServer deadlocks).

class State:
    def __init__(self):
        self.lock = threading.RLock()
        self.builds = []              # dicts, in id order (ids start at 1)
        self.next_build_id = 1        # a deleted build's id is not given again
        self.faults = []              # dicts, oldest first
        self.next_fault_id = 1
        self.cleared = threading.Event()   # replaced at every clear
        self.refuse_new = False            # POST /firewall
        self.requests = []            # request log for GET /stats
        self.tls = tls_counters()     # for GET /tls

    # builds -----------------------------------------------------------------
    def publish(self, build):
        with self.lock:
            build["id"] = self.next_build_id
            self.next_build_id += 1
            self.builds.append(build)
            return build["id"]

    def find(self, build_id):
        for b in self.builds:
            if b["id"] == build_id:
                return b
        return None

    def set_eval_finished(self, build_id):
        with self.lock:
            b = self.find(build_id)
            if b:
                b["eval_finished"] = True
            return b is not None

    def get_build(self, build_id):
        with self.lock:
            b = self.find(build_id)
            return dict(b) if b else None

    def list_builds(self):
        with self.lock:
            return [dict(b) for b in self.builds]

    def unpublish(self, build_id):
        """Deletes a build, as Hydra's admin may: its id is never given again."""
        with self.lock:
            before = len(self.builds)
            self.builds = [b for b in self.builds if b["id"] != build_id]
            return len(self.builds) != before

    def latest(self, job, system=None, eval_finished=False):
        """Highest id of a successful build of job (protocols.md: finished = 1
        and buildstatus = 0), optionally of one system / with its eval done."""
        with self.lock:
            for b in reversed(self.builds):
                if (b["job"] == job and b["finished"] == 1 and b["buildstatus"] == 0
                        and (system is None or b["system"] == system)
                        and (not eval_finished or b["eval_finished"])):
                    return b["id"]
            return None

    # faults -----------------------------------------------------------------
    def add_fault(self, fault):
        with self.lock:
            fault["id"] = self.next_fault_id
            self.next_fault_id += 1
            self.faults.append(fault)
            return dict(fault)

    def list_faults(self):
        with self.lock:
            return [dict(f) for f in self.faults]

    def clear_faults(self):
        with self.lock:
            self.faults = []
            self.cleared.set()            # wakes requests hanging on a fault
            self.cleared = threading.Event()

    def take_fault(self, target, authed, build_json, job=None):
        """Newest matching fault that applies, with its count used up by one.
        job: the (project, jobset, job, rest) of a /job/ request, else None.
        Returns (fault copy, the clear event of its generation) or (None, None)."""
        with self.lock:
            for f in reversed(self.faults):
                if f["target"] != "any" and f["target"] != target:
                    continue
                if not authed and f["kind"] != "401":
                    continue              # faults come after auth, except "401"
                if f["kind"] in BUILD_JSON_KINDS and not build_json:
                    continue
                if f["kind"] == "moved" and moved_location(f.get("value"), job, "") is None:
                    continue
                if f["count"] is not None:
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.faults.remove(f)
                return dict(f), self.cleared
            return None, None

    # request log --------------------------------------------------------------
    def log_request(self, entry):
        with self.lock:
            self.requests.append(entry)

    def finish_request(self, entry, status, body_bytes, fault_kind):
        with self.lock:
            entry["status"] = status
            entry["body_bytes"] = body_bytes
            entry["fault"] = fault_kind

    def stats(self):
        with self.lock:
            return [dict(e) for e in self.requests]

    def reset_stats(self):
        with self.lock:
            self.requests = []

    # TLS and idle-close counters ---------------------------------------------
    def count(self, name):
        with self.lock:
            self.tls[name] += 1

    def tls_stats(self):
        with self.lock:
            return dict(self.tls)

    def reset_tls(self):
        with self.lock:
            self.tls = tls_counters()


def tls_counters():
    return {"handshakes": 0, "resumed": 0, "idle_closes": 0}


# ---------------------------------------------------------------------------
# Build JSON (protocols.md, "GET /build/ID (JSON)").

def fake_hash(seed):
    """32 characters of Nix base-32 derived from seed (for made-up paths)."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(NIX_BASE32[b % 32] for b in digest[:32])


def nixname(build):
    out = build["out"]
    m = STORE_PATH_RE.match(out) if isinstance(out, str) else None
    return m.group(1) if m else build["job"].split("/")[2]


def build_json(build):
    finished = 1 if build["finished"] else 0
    name = nixname(build)
    safe = re.sub(r"[^A-Za-z0-9+\-._?=]", "_", name).lstrip(".") or "build"
    if build["out"] is None:
        # "out": null publishes a build without an "out" output.
        outputs = {"bin": {"path": "/nix/store/%s-%s-bin" % (fake_hash("bin%d" % build["id"]), safe)}}
    else:
        outputs = {"out": {"path": build["out"]}}
    project, jobset, job = build["job"].split("/")
    ts = build["timestamp"]
    return {
        "id": build["id"],
        "finished": finished,
        "buildstatus": build["buildstatus"] if finished else None,
        "project": project,
        "jobset": jobset,
        "job": job,
        "nixname": name,
        "system": build["system"],
        "priority": 100,
        "timestamp": ts,
        "starttime": ts if finished else None,
        "stoptime": ts if finished else None,
        "drvpath": "/nix/store/%s-%s.drv" % (fake_hash("drv%d" % build["id"]), safe),
        "releasename": None,
        "jobsetevals": [build["id"]],      # one evaluation per publish
        "buildoutputs": outputs,
        "buildproducts": {},
        "buildmetrics": {},
    }


def build_html(build):
    d = build_json(build)
    out = next(iter(d["buildoutputs"].values()))["path"]
    return ("<!DOCTYPE html><html><head><title>Build %d</title></head><body>"
            "<h1>Build %d of job %s:%s:%s</h1><p>Output: %s</p></body></html>\n" % (
                d["id"], d["id"], html.escape(d["project"]), html.escape(d["jobset"]),
                html.escape(d["job"]), html.escape(str(out)))).encode()


# ---------------------------------------------------------------------------
# Responses

@dataclass
class Response:
    status: int
    headers: list = field(default_factory=list)
    body: bytes = b""
    file: str = None           # stream this file instead of body
    build: dict = None         # set when body is this build's JSON

    def length(self):
        return os.path.getsize(self.file) if self.file else len(self.body)


def html_page(status, title, text, headers=()):
    body = ("<!DOCTYPE html><html><head><title>%s</title></head><body><h1>%s</h1>"
            "<p>%s</p></body></html>\n" % (title, title, html.escape(text))).encode()
    return Response(status, [("Content-Type", "text/html; charset=utf-8"), *headers], body)


def json_response(status, obj, build=None):
    body = json.dumps(obj).encode()
    return Response(status, [("Content-Type", "application/json")], body, build=build)


def redirect(location):
    # Catalyst sends a tiny body with its 302; we send none: Content-Length: 0
    # keeps the connection reusable and the download size at zero.
    return Response(302, [("Location", location)])


def unauthorized():
    return html_page(401, "401 Unauthorized", "Authorization required.",
                     [("WWW-Authenticate", 'Basic realm="Hydra"')])


STATUS_TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 500: "Internal Server Error", 503: "Service Unavailable"}


def status_page(status):
    if status == 401:
        return unauthorized()
    title = "%d %s" % (status, STATUS_TITLES[status])
    return html_page(status, title, title)


# ---------------------------------------------------------------------------
# Handlers

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive: every response has Content-Length
    wbufsize = -1                     # one write per response (testing.md: Nagle)
    timeout = IDLE_TIMEOUT            # bounded idle keep-alive and stalled I/O
    server_version = "hydra-standin"

    def version_string(self):
        return self.server_version

    # TLS and idle close (the same for the main and the control server; only the
    # main server is given a TLS context and an idle-close time) -------------
    def setup(self):
        """The TLS handshake, in this connection's thread, before the base
        class makes its file objects of the (then TLS) socket."""
        self.tls_failed = False
        if isinstance(self, MainHandler) and self.server.state.refuse_new:
            log("%s new connection refused (firewall)" % self.server.name)
            self.tls_failed = True          # handle() does nothing; finish() closes
            self.rfile, self.wfile = io.BytesIO(), io.BytesIO()
            return
        ctx = self.server.tls_context
        if ctx is not None:
            self.request.settimeout(TLS_HANDSHAKE_TIMEOUT)
            try:
                self.request = ctx.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                # wrap_socket closed the socket; nothing more to do with it
                log("%s TLS handshake failed: %s" % (self.server.name, e))
                self.tls_failed = True
                self.rfile, self.wfile = io.BytesIO(), io.BytesIO()
                return
            self.server.state.count("handshakes")
            if self.request.session_reused:
                self.server.state.count("resumed")
        super().setup()

    def handle(self):
        """The base class's request loop, waiting at most --idle-close seconds
        for each request to begin."""
        if self.tls_failed:
            return
        self.close_connection = True
        if self.request_arrives():
            self.handle_one_request()
        while not self.close_connection:
            if not self.request_arrives():
                break
            self.handle_one_request()

    def request_arrives(self):
        """False when the connection is to be closed: idle for --idle-close
        seconds (counted), or failed. Reads (peeks) the first bytes of the next
        request under that timeout, then restores the normal one."""
        idle = self.server.idle_close
        if idle is None:
            return True
        try:
            self.connection.settimeout(idle)
            self.rfile.peek(1)            # b"" at EOF: the base class ends then
            self.connection.settimeout(self.timeout)
            return True
        except TimeoutError:
            self.server.state.count("idle_closes")
            log("%s connection idle for %gs: closed" % (self.server.name, idle))
            return False
        except (OSError, ValueError):
            return False

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass                          # the client went away before the flush
        finally:
            if self.server.tls_context is not None and not self.tls_failed:
                close_tls(self.connection)

    def log_request(self, code="-", size="-"):
        pass                          # we log one line per request ourselves

    def log_message(self, fmt, *args):
        log("%s %s" % (self.server.name, fmt % args))

    def request_length(self):
        """Declared body length, or None when it cannot be read safely."""
        if self.headers.get("Transfer-Encoding"):
            return None
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        return n if n >= 0 else None

    def send(self, resp, truncate=False):
        """Send resp; return body bytes handed to the socket. truncate: promise
        the full Content-Length, send only half, then close."""
        length = resp.length()
        self.send_response(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str((length or PHANTOM_LENGTH) if truncate else length))
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            sent = self.write_body(resp, length // 2 if truncate else length)
        if truncate:
            self.close_connection = True
        return sent

    def write_body(self, resp, limit):
        sent = 0
        try:
            if resp.file:
                with open(resp.file, "rb") as f:
                    while sent < limit:
                        chunk = f.read(min(CHUNK, limit - sent))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        sent += len(chunk)
            else:
                self.wfile.write(resp.body[:limit])
                sent = min(limit, len(resp.body))
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        return sent


class MainHandler(Handler):
    def do_GET(self):
        self.handle_main()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # request handling -------------------------------------------------------
    def handle_main(self):
        path = urlsplit(self.path).path
        self.drain_body()
        authed = self.check_auth()
        entry = {"method": self.command, "path": path, "status": None,
                 "body_bytes": 0, "auth": authed, "fault": None}
        self.server.state.log_request(entry)
        resp = self.route(path)
        target = classify(path)
        fault, cleared = self.server.state.take_fault(target, authed, resp.build is not None,
                                                      job_of(path))
        status, sent = self.answer(resp, authed, fault, cleared)
        self.server.state.finish_request(entry, status, sent, fault["kind"] if fault else None)
        log("hydra %s %s %s %d auth=%s fault=%s" % (
            self.command, path, status or "-", sent, "yes" if authed else "no",
            fault["kind"] if fault else "-"))

    def drain_body(self):
        """Read and drop a request body so the connection stays usable; one we
        cannot read safely ends the connection after the answer."""
        n = self.request_length()
        if n is None or n > MAIN_BODY_DRAIN_MAX:
            self.close_connection = True
        elif n:
            self.rfile.read(n)

    def check_auth(self):
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, self.server.credentials)

    def answer(self, resp, authed, fault, cleared):
        """Send the answer; return (status or None when none was sent, body bytes)."""
        if fault and fault["kind"] == "401":
            return 401, self.send(unauthorized())
        if not authed:
            return 401, self.send(unauthorized())
        if fault:
            return self.apply_fault(resp, fault, cleared)
        return resp.status, self.send(resp)

    # routes --------------------------------------------------------------------
    def route(self, path):
        if self.command not in ("GET", "HEAD"):
            return html_page(404, "404 Not Found", "No such page.")
        parts = path.split("/")[1:]
        if parts and parts[0] == "job":
            return self.route_latest([unquote(p) for p in parts[1:]])
        if len(parts) == 2 and parts[0] == "build":
            return self.route_build(parts[1])
        file = cache_file(self.server.cache_dir, path)
        if file and os.path.isfile(file):
            return Response(200, [("Content-Type", cache_type(file))], file=file)
        return html_page(404, "404 Not Found", "No such page.")

    def route_latest(self, parts):
        state = self.server.state
        if len(parts) == 4 and parts[3] == "latest":
            build_id = state.latest("/".join(parts[:3]))
        elif len(parts) == 4 and parts[3] == "latest-finished":
            build_id = state.latest("/".join(parts[:3]), eval_finished=True)
        elif len(parts) == 5 and parts[3] == "latest-for":
            build_id = state.latest("/".join(parts[:3]), system=parts[4])
        else:
            return html_page(404, "404 Not Found", "No such page.")
        if build_id is None:
            return html_page(404, "404 Not Found", "No successful build of this job.")
        return redirect("%s/build/%d" % (self.server.location_base, build_id))

    def route_build(self, raw_id):
        build = self.server.state.get_build(int(raw_id)) if BUILD_ID_RE.match(raw_id) else None
        wants_json = "application/json" in self.headers.get("Accept", "").lower()
        if build is None:
            msg = "Build with ID %s doesn't exist." % raw_id
            if wants_json:
                return json_response(404, {"error": msg})
            return html_page(404, "404 Not Found", msg)
        if wants_json:
            return json_response(200, build_json(build), build=build)
        return Response(200, [("Content-Type", "text/html; charset=utf-8")], build_html(build))

    # faults ------------------------------------------------------------------
    def apply_fault(self, resp, fault, cleared):
        kind, value = fault["kind"], fault.get("value")
        if kind in STATUS_KINDS:
            return int(kind), self.send(status_page(int(kind)))
        if kind == "nonjson":
            r = Response(200, [("Content-Type", "application/json")], b"<html>not json</html>")
            return 200, self.send(r)
        if kind == "truncated":
            return resp.status, self.send(resp, truncate=True)
        if kind == "no-out":
            d = build_json(resp.build)
            d["buildoutputs"] = {"bin": {"path": "/nix/store/%s-%s-bin" % (
                fake_hash("bin%d" % d["id"]), "no-out")}}
            return 200, self.send(json_response(200, d))
        if kind == "bad-path":
            d = build_json(resp.build)
            d["buildoutputs"] = {"out": {"path": DEFAULT_BAD_PATH if value is None else value}}
            return 200, self.send(json_response(200, d))
        if kind == "null-path":
            d = build_json(resp.build)
            d["buildoutputs"] = {"out": {"path": None}}
            return 200, self.send(json_response(200, d))
        if kind == "moved":
            loc = moved_location(value, job_of(urlsplit(self.path).path), self.server.location_base)
            return 301, self.send(html_page(301, "301 Moved Permanently", "Moved.",
                                            [("Location", loc)]))
        if kind == "huge":
            return 200, self.send_huge(resp.build, DEFAULT_HUGE if value is None else value)
        if kind == "redirect-loop":
            return 302, self.send(redirect(self.asked_url()))
        if kind == "foreign-location":
            return 302, self.send(redirect(value or "http://example.invalid" + foreign_path(resp, self.path)))
        if kind == "bad-location":
            default = "%s://127.0.0.1:%d/not-a-build" % (self.server.scheme, self.server.server_port)
            return 302, self.send(redirect(value or default))
        if kind == "hang":
            self.hang(DEFAULT_HANG if value is None else value, cleared)
            return None, 0
        if kind == "reset":
            self.reset()
            return None, 0
        if kind == "slow":
            STOP.wait(DEFAULT_SLOW if value is None else value)
            return resp.status, self.send(resp)
        raise AssertionError(kind)

    def asked_url(self):
        """The absolute URL this request asked for, as the client named the host."""
        host = self.headers.get("Host", "")
        if not HOST_RE.match(host):
            host = "127.0.0.1:%d" % self.server.server_port
        return "%s://%s%s" % (self.server.scheme, host, self.path if self.path.startswith("/") else urlsplit(self.path).path)

    def send_huge(self, build, size):
        """A valid build JSON of `size` bytes: a long "padding" string first, then
        the normal fields. Streamed in chunks, never held in memory."""
        normal = json.dumps(build_json(build))
        head = b'{"padding": "'
        tail = ('", ' + normal[1:]).encode()
        pad = max(0, size - len(head) - len(tail))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + pad + len(tail)))
        self.end_headers()
        if self.command == "HEAD":
            return 0
        sent = 0
        chunk = b"x" * CHUNK
        try:
            self.wfile.write(head)
            sent += len(head)
            while pad > 0:
                piece = chunk if pad >= CHUNK else chunk[:pad]
                self.wfile.write(piece)
                sent += len(piece)
                pad -= len(piece)
            self.wfile.write(tail)
            sent += len(tail)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        return sent

    def hang(self, seconds, cleared):
        """Say nothing until the client closes, `seconds` pass, the fault is
        cleared or the server stops; then close. Waits in select() (no busy
        loop); the short slice only bounds how late a clear is noticed."""
        self.close_connection = True
        deadline = time.monotonic() + seconds
        sock = self.connection
        while not cleared.is_set() and not STOP.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            readable, _, _ = select.select([sock], [], [], min(remaining, 0.2))
            if readable:
                try:
                    if not sock.recv(CHUNK):
                        return            # client closed
                except OSError:
                    return

    def reset(self):
        """Close without any response; SO_LINGER 0 makes the close an RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # The socket only really closes once its file objects are closed too;
        # swap them for dummies so the base class's final flush/close still work.
        self.wfile.close()
        self.rfile.close()
        self.wfile, self.rfile = io.BytesIO(), io.BytesIO()
        self.connection.close()


def classify(path):
    """Which fault target a main-server path belongs to ("other" only matches "any")."""
    if path.startswith("/job/"):
        return "latest"
    if path.startswith("/build/"):
        return "build"
    if path == "/nix-cache-info" or path.endswith(".narinfo") or path.startswith("/nar/"):
        return "cache"
    return "other"


def job_of(path):
    """(project, jobset, job, rest) of a /job/P/J/JOB/REST path, else None."""
    parts = path.split("/")[1:]
    if len(parts) < 5 or parts[0] != "job" or "" in parts[1:4]:
        return None
    return (*[unquote(p) for p in parts[1:4]], "/".join(parts[4:]))


def moved_location(value, job, base):
    """Location of a "moved" fault for a /job/ request, or None when the
    fault does not apply to it (not a job request, or already the new job)."""
    if job is None:
        return None
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value
    new = value.split("/") if value else [job[0], DEFAULT_MOVED_JOBSET, job[2]]
    if tuple(new) == job[:3]:
        return None
    return "%s/job/%s/%s" % (base, "/".join(new), job[3])


def cache_file(cache_dir, path):
    """The file for one of the three binary-cache shapes, else None (no traversal)."""
    if path == "/nix-cache-info":
        name = "nix-cache-info"
    elif path.count("/") == 1 and NARINFO_RE.match(path[1:]):
        name = path[1:]
    elif path.startswith("/nar/") and path.count("/") == 2 and CACHE_NAME_RE.match(path[5:]):
        name = os.path.join("nar", path[5:])
    else:
        return None
    return os.path.join(cache_dir, name)


def cache_type(file):
    if file.endswith(".narinfo"):
        return "text/x-nix-narinfo"
    if os.path.basename(file) == "nix-cache-info":
        return "application/x-nix-cache-info"
    return "application/octet-stream"


def foreign_path(resp, asked):
    """Path for the default foreign Location: the build the answer is about."""
    if resp.status == 302:
        for k, v in resp.headers:
            if k == "Location":
                return urlsplit(v).path
    if resp.build is not None:
        return "/build/%d" % resp.build["id"]
    return urlsplit(asked).path


# ---------------------------------------------------------------------------
# Control server

class BadRequest(Exception):
    pass


class PayloadTooLarge(Exception):
    pass


class ControlHandler(Handler):
    def do_GET(self):
        self.handle_control()

    do_POST = do_DELETE = do_PUT = do_HEAD = do_GET

    def handle_control(self):
        path = urlsplit(self.path).path
        try:
            body = self.read_body()
            status, obj = self.dispatch(self.command, path, body)
        except BadRequest as e:
            status, obj = 400, {"error": str(e)}
        except PayloadTooLarge:
            self.close_connection = True
            status, obj = 413, {"error": "body over %d bytes" % CONTROL_BODY_MAX}
        resp = json_response(status, obj)
        if self.close_connection:
            resp.headers.append(("Connection", "close"))
        self.send(resp)
        log("control %s %s %d" % (self.command, path, status))

    def read_body(self):
        n = self.request_length()
        if n is None:
            self.close_connection = True      # the unread body would poison the stream
            raise BadRequest("send a Content-Length body (no chunked encoding)")
        if n > CONTROL_BODY_MAX:
            raise PayloadTooLarge()
        return self.rfile.read(n) if n else b""

    def dispatch(self, method, path, body):
        state = self.server.state
        if (method, path) == ("POST", "/publish"):
            return 200, {"id": state.publish(parse_publish(json_object(body)))}
        if (method, path) == ("POST", "/eval-finished"):
            build_id = json_object(body).get("id")
            if not isinstance(build_id, int) or isinstance(build_id, bool):
                raise BadRequest('"id" must be an integer')
            if not state.set_eval_finished(build_id):
                return 404, {"error": "no build %d" % build_id}
            return 200, {"ok": True}
        if (method, path) == ("POST", "/unpublish"):
            build_id = json_object(body).get("id")
            if not isinstance(build_id, int) or isinstance(build_id, bool):
                raise BadRequest('"id" must be an integer')
            if not state.unpublish(build_id):
                return 404, {"error": "no build %d" % build_id}
            return 200, {"ok": True}
        if (method, path) == ("POST", "/fault"):
            return 200, state.add_fault(parse_fault(json_object(body)))
        if (method, path) == ("GET", "/fault"):
            return 200, {"faults": state.list_faults()}
        if (method, path) in (("DELETE", "/fault"), ("POST", "/fault/clear")):
            state.clear_faults()
            return 200, {"ok": True}
        if (method, path) == ("GET", "/stats"):
            return 200, {"requests": state.stats()}
        if (method, path) == ("POST", "/stats/reset"):
            state.reset_stats()
            return 200, {"ok": True}
        if (method, path) == ("GET", "/builds"):
            return 200, {"builds": state.list_builds()}
        if (method, path) == ("GET", "/tls"):
            return 200, state.tls_stats()
        if (method, path) == ("POST", "/tls/reset"):
            state.reset_tls()
            return 200, {"ok": True}
        if (method, path) == ("POST", "/firewall"):
            obj = json_object(body)
            if not isinstance(obj, dict) or obj.get("new_connections") not in ("refuse", "accept"):
                raise BadRequest('want {"new_connections": "refuse"|"accept"}')
            state.refuse_new = obj["new_connections"] == "refuse"
            return 200, {"ok": True}
        return 404, {"error": "no such control endpoint: %s %s" % (method, path)}


def json_object(body):
    try:
        obj = json.loads(body or b"{}")
    except ValueError as e:
        raise BadRequest("body is not JSON: %s" % e)
    if not isinstance(obj, dict):
        raise BadRequest("body must be a JSON object")
    return obj


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse_publish(obj):
    job = obj.get("job")
    if not isinstance(job, str) or len(job.split("/")) != 3 or "" in job.split("/"):
        raise BadRequest('"job" must be "PROJECT/JOBSET/JOB"')
    out = obj.get("out")          # stored verbatim: tests publish bad paths on purpose
    if "out" not in obj or not (out is None or isinstance(out, str)):
        raise BadRequest('"out" must be a string or null')
    system = obj.get("system", "x86_64-linux")
    if not isinstance(system, str):
        raise BadRequest('"system" must be a string')
    finished = obj.get("finished", 1)
    if finished not in (0, 1):            # True/False compare equal to 1/0
        raise BadRequest('"finished" must be 0 or 1')
    buildstatus = obj.get("buildstatus", 0)
    if not (buildstatus is None or is_int(buildstatus)):
        raise BadRequest('"buildstatus" must be an integer or null')
    eval_finished = obj.get("eval_finished", True)
    if not isinstance(eval_finished, bool):
        raise BadRequest('"eval_finished" must be a boolean')
    return {"id": None, "job": job, "out": out, "system": system,
            "finished": int(finished), "buildstatus": buildstatus,
            "eval_finished": eval_finished, "timestamp": int(time.time())}


def parse_fault(obj):
    target, kind = obj.get("target"), obj.get("kind")
    if target not in TARGETS:
        raise BadRequest('"target" must be one of %s' % ", ".join(TARGETS))
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadRequest('"kind" must be one of %s' % ", ".join(KINDS))
    count = obj.get("count")
    if count is not None and (not is_int(count) or count < 1):
        raise BadRequest('"count" must be a positive integer or absent')
    value = obj.get("value")
    if value is not None:
        value = check_value(kind, value)
    return {"id": None, "target": target, "kind": kind, "count": count, "value": value}


def check_value(kind, value):
    if kind in ("hang", "slow"):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= MAX_DELAY:
            raise BadRequest('"value" for %s: seconds, 0 to %d' % (kind, MAX_DELAY))
    elif kind == "huge":
        if not is_int(value) or not 0 <= value <= MAX_HUGE:
            raise BadRequest('"value" for huge: bytes, 0 to %d' % MAX_HUGE)
    elif kind in ("foreign-location", "bad-location"):
        if not isinstance(value, str) or re.search(r"[\x00-\x1f\x7f]", value):
            raise BadRequest('"value" for %s: a string without control characters' % kind)
    elif kind == "moved":
        if not isinstance(value, str) or re.search(r"[\x00-\x1f\x7f]", value) or not (
                value.startswith(("http://", "https://")) or
                (len(value.split("/")) == 3 and "" not in value.split("/"))):
            raise BadRequest('"value" for moved: "PROJECT/JOBSET/JOB" or an absolute URL')
    # bad-path: any JSON value, put verbatim into buildoutputs.out.path.
    return value


# ---------------------------------------------------------------------------
# Servers and main

class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name, handler, state, tls_context=None, idle_close=None):
        self.name = name
        self.state = state
        self.tls_context = tls_context    # an ssl.SSLContext: this server is HTTPS
        self.scheme = "https" if tls_context else "http"
        self.idle_close = idle_close      # seconds, or None
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            return                  # a client that went away: not worth a traceback
        super().handle_error(request, client_address)


def server_tls_context(cert, key):
    """TLS 1.2 or newer, the certificate chain of cert (PEM) with key; session
    tickets on (TLS 1.3 resumption; OpenSSL's default, made explicit)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.options &= ~ssl.OP_NO_TICKET
    return ctx


def close_tls(sock):
    """A TLS close_notify, then the TCP close. Does not wait for the client's
    close_notify (nginx does not either): non-blocking, the first SSL_shutdown
    sends ours and the second, which would wait for the client's, gives up at
    once with SSLWantReadError."""
    if sock.fileno() < 0:
        return                      # already closed (the "reset" fault)
    try:
        sock.settimeout(0)
        sock.unwrap()
    except (ssl.SSLError, OSError, ValueError):
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def write_port_file(path, ports):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ports, f)
        f.write("\n")
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Hydra stand-in for hail's tests.")
    p.add_argument("--cache-dir", required=True, help="directory written by nix copy --to file://DIR")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--port-file", required=True, help='gets {"port": N, "control_port": M}')
    p.add_argument("--location-base",
                   help="base of Location URLs (default http(s)://127.0.0.1:PORT)")
    p.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (chain): serve HTTPS")
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    p.add_argument("--idle-close", metavar="SECONDS", type=float,
                   help="close a connection idle this long (with close_notify under TLS)")
    p.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = p.parse_args(argv)
    if not os.path.isdir(args.cache_dir):
        p.error("--cache-dir %s is not a directory" % args.cache_dir)
    if (args.tls_cert is None) != (args.tls_key is None):
        p.error("--tls-cert and --tls-key go together")
    if args.idle_close is not None and not 0 < args.idle_close <= IDLE_TIMEOUT:
        p.error("--idle-close must be above 0 and at most %d seconds" % IDLE_TIMEOUT)
    return args


def main(argv=None):
    global QUIET
    args = parse_args(argv)
    QUIET = args.quiet
    state = State()
    tls = server_tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    main_srv = Server("hydra", MainHandler, state, tls, args.idle_close)
    main_srv.credentials = ("%s:%s" % (args.user, args.password)).encode()
    main_srv.cache_dir = os.path.abspath(args.cache_dir)
    main_srv.location_base = (args.location_base or "%s://127.0.0.1:%d" % (
        main_srv.scheme, main_srv.server_port)).rstrip("/")
    control_srv = Server("control", ControlHandler, state)

    # Block SIGTERM/SIGINT before any thread starts (threads inherit the mask),
    # then wait for them synchronously here: no handler, no polling.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    for s in (main_srv, control_srv):
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    ports = {"port": main_srv.server_port, "control_port": control_srv.server_port}
    if tls:
        ports["tls"] = True
    write_port_file(args.port_file, ports)
    log("hydra stand-in on 127.0.0.1:%d (%s), control on 127.0.0.1:%d" % (
        main_srv.server_port, main_srv.scheme, control_srv.server_port))
    signal.sigwait(stop_signals)
    STOP.set()                        # ends hanging and sleeping requests
    for s in (main_srv, control_srv):
        s.shutdown()
        s.server_close()
    log("hydra stand-in stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
