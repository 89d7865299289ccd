#!/usr/bin/python3
"""EC2 instance metadata service (IMDS) stand-in for hail's tests and benchmarks.

Python 3.11 standard library only (runs as /usr/bin/python3 on Debian 12).

Usage:
    python3 imds.py --port-file FILE [--user-data FILE] [--tokens required|optional]
                    [--tags-enabled] [--tag KEY=VALUE ...] [--instance-id ID]
                    [--region REGION] [--fail-first N]
                    [--fail-mode refuse|500|503|timeout] [--quiet]

Two servers on 127.0.0.1, both on OS-picked ports, written to FILE (atomically)
as {"port": N, "control_port": M} once both listen. SIGTERM/SIGINT: clean exit.

Main server, as IMDS answers (shared/protocols.md, "EC2 instance metadata service"):
    PUT /latest/api/token   with X-aws-ec2-metadata-token-ttl-seconds: N (1..21600)
        -> 200, body = a new token, the TTL header echoed. Missing, repeated,
        non-integer or out-of-range TTL -> 400. Any PUT with X-Forwarded-For -> 403.
        Tokens expire after their TTL (monotonic clock).
    GET with X-aws-ec2-metadata-token: unknown or expired token -> 401 (also when
        tokens are optional). Without one: 401 when tokens are required, else served.
    GET of the token path, or PUT/POST/... anywhere else -> 405.
    GET /                   the API versions, one per line (dated ones and "latest").
    GET /VERSION/...        every dated version serves the same tree as /latest/:
        user-data           the raw bytes (application/octet-stream); 404 when none
        meta-data/...       ami-id, block-device-mapping/, events/, hostname,
                            identity-credentials/, instance-id, mac, metrics/,
                            network/interfaces/macs/MAC/..., placement/, public-keys/
                            ("0=NAME", then 0/openssh-key), services/, ...;
                            tags/instance/KEY only when tags are enabled (keys
                            containing "/" are not exposed); iam/ only when a role
                            is configured (iam/info, iam/security-credentials/ROLE)
        dynamic/instance-identity/{document,pkcs7,signature,rsa2048}
    A folder lists its entries one per line (sub-folders end with "/"), with or
    without a trailing slash; a leaf asked with a trailing slash is 404. Path
    segments are percent-decoded (tag keys with spaces). Unknown paths: 404.
    HEAD is answered like GET, without the body.

Boot race (--fail-first N, or POST /config): the next N main-server requests fail,
whatever they ask, in the fail mode:
    refuse   the request is read, then the connection is closed at once with an
             RST and no answer (a port cannot be un-listened per request)
    500, 503 that status
    timeout  no answer until the client disconnects, 30 s pass, the fail settings
             are changed through /config, or the stand-in stops; then the
             connection is closed

Control server (no auth, JSON out, request bodies capped at 64 KiB):
    POST   /user-data      raw body becomes the user-data -> {"ok": true, "bytes": N}
    DELETE /user-data      no user-data any more (GET user-data -> 404)
    POST   /tags           {"enabled": bool, "tags": {KEY: VALUE}}; the tags are
                           replaced; a missing field keeps its current value
    POST   /config         any of {"tokens": "required"|"optional", "fail_first": N,
                           "fail_mode": MODE, "instance_id": S, "region": S,
                           "iam_role": S|null, "iam_credentials": {...}|null,
                           "token_max_uses": N|null (a token stops working after
                           N GETs: expiry without waiting)}
                           -> the whole configuration (as GET /config)
    GET    /config         -> the whole configuration ("fail_first" = failures left,
                              plus "availability_zone", "tags", "user_data_bytes",
                              "live_tokens")
    POST   /tokens/expire  every token issued so far becomes invalid -> {"expired": N}
    GET    /stats          -> {"requests": [{"method", "path", "status", "token":
                              "none"|"valid"|"invalid", "ttl_header": str|null,
                              "xff": bool, "fault": MODE|null,
                              "user_agent": str|null}, ...]}
    POST   /stats/reset    clears the request log
Details beyond the brief:
  - /stats entries appear when a request arrives and are completed when it ends;
    "status" is null for "refuse" and "timeout" (nothing was sent).
  - "iam_credentials" defaults to dummy credentials (AccessKeyId, SecretAccessKey,
    Token, Expiration 6 h after the role was set); unknown /config keys -> 400.
  - Leaves other than user-data are text/plain; errors are IMDS's XHTML pages.
  - At most 100000 live tokens; beyond that the oldest is dropped.
The request log on stderr (one line per request, unless --quiet) never shows
token values.
"""

import argparse
import io
import json
import os
import re
import secrets
import select
import signal
import socket
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
FAIL_HOLD = 30                    # "timeout" fail mode: longest hold, seconds
MAX_TOKENS = 100000               # live tokens kept; the oldest goes first
TTL_MIN, TTL_MAX = 1, 21600       # protocols.md: N in 1..21600

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_RE = re.compile(r"^[0-9]{1,9}$")

TOKEN_MODES = ("required", "optional")
FAIL_MODES = ("refuse", "500", "503", "timeout")

# GET / on EC2 (2022); every dated one serves the /latest/ tree here.
VERSIONS = (
    "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
    "2008-02-01", "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01",
    "2012-01-12", "2014-02-25", "2014-11-05", "2015-10-20", "2016-04-19",
    "2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17", "2018-09-24",
    "2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23", "2021-07-15",
    "2022-07-09", "2022-09-24", "latest")
VERSION_SET = frozenset(VERSIONS)

# The made-up instance (documentation address ranges, a VPC instance on Nitro).
DEFAULT_INSTANCE_ID = "i-0123456789abcdef0"
DEFAULT_REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
AMI_ID = "ami-0abcdef1234567890"
INSTANCE_TYPE = "t3.micro"
ARCHITECTURE = "x86_64"
PRIVATE_IP = "10.0.1.23"
PUBLIC_IP = "203.0.113.25"
MAC = "0a:1b:2c:3d:4e:5f"
ENI_ID = "eni-0123456789abcdef0"
SUBNET_ID = "subnet-0123456789abcdef0"
VPC_ID = "vpc-0123456789abcdef0"
SG_ID = "sg-0123456789abcdef0"
SG_NAME = "default"
RESERVATION_ID = "r-0123456789abcdef0"
KEY_NAME = "hail-test"
SSH_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhhaWwtc3RhbmQtaW4tdGVzdC1rZXktbm90LXJlYWw "
           + KEY_NAME)
DUMMY_SIG = ("aGFpbCBJTURTIHN0YW5kLWluOiBub3QgYSByZWFsIHNpZ25hdHVyZSwgbm90IGEgcmVhbCBz\n"
             "aWduYXR1cmUsIG5vdCBhIHJlYWwgc2lnbmF0dXJlLg==")

STOP = threading.Event()          # set on SIGTERM/SIGINT: ends held requests
QUIET = False


def log(line):
    if not QUIET:
        print(line, file=sys.stderr, flush=True)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def aws_json(obj):
    """JSON laid out as IMDS does (two-space indent, " : ")."""
    return json.dumps(obj, indent=2, separators=(",", " : "))


# ---------------------------------------------------------------------------
# The metadata tree: nested dicts are folders, str/bytes are leaves.

class Folder(dict):
    """A folder whose listing names some entries differently from their path
    (public-keys lists "0=NAME" for the folder 0/)."""

    def __init__(self, entries, labels):
        super().__init__(entries)
        self.labels = labels


def listing(folder):
    labels = getattr(folder, "labels", {})
    lines = []
    for name in sorted(folder):
        if name in labels:
            lines.append(labels[name])
        elif isinstance(folder[name], dict):
            lines.append(name + "/")
        else:
            lines.append(name)
    return "\n".join(lines)


def resolve(root, segments):
    """The node at segments (a final "" = a trailing slash), or None."""
    node = root
    for i, seg in enumerate(segments):
        if seg == "":
            # Only a folder may end in "/"; "//" inside a path is nothing.
            return node if i == len(segments) - 1 and isinstance(node, dict) else None
        if not isinstance(node, dict) or seg not in node:
            return None
        node = node[seg]
    return node


DIRECTIONS = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
              "northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}


def region_code(region):
    """eu-west-1 -> euw1, ap-southeast-2 -> apse2 (as in AZ ids)."""
    parts = region.split("-")
    if len(parts) >= 3 and parts[-1].isdigit():
        return parts[0] + "".join(DIRECTIONS.get(p, p[:1]) for p in parts[1:-1]) + parts[-1]
    return re.sub(r"[^a-z0-9]", "", region.lower())[:8] or "x"


def dummy_credentials(since):
    return {"Code": "Success", "LastUpdated": iso(since), "Type": "AWS-HMAC",
            "AccessKeyId": "ASIAIMDSSTANDIN00000",
            "SecretAccessKey": "imds-stand-in-secret-key-not-real-0000000",
            "Token": "imds-stand-in-session-token-not-real",
            "Expiration": iso(since + 6 * 3600)}


def build_root(c):
    """The tree under /VERSION/ for configuration snapshot c."""
    region, iid = c["region"], c["instance_id"]
    az = region + "a"
    internal = "ec2.internal" if region == "us-east-1" else region + ".compute.internal"
    external = ("compute-1.amazonaws.com" if region == "us-east-1"
                else region + ".compute.amazonaws.com")
    local_host = "ip-%s.%s" % (PRIVATE_IP.replace(".", "-"), internal)
    public_host = "ec2-%s.%s" % (PUBLIC_IP.replace(".", "-"), external)
    started = c["started"]
    md = {
        "ami-id": AMI_ID,
        "ami-launch-index": "0",
        "ami-manifest-path": "(unknown)",
        "block-device-mapping": {"ami": "/dev/xvda", "root": "/dev/xvda"},
        "events": {"maintenance": {"history": "[]", "scheduled": "[]"}},
        "hostname": local_host,
        "identity-credentials": {"ec2": {
            "info": aws_json({"Code": "Success", "LastUpdated": iso(started),
                              "AccountId": ACCOUNT_ID}),
            "security-credentials": {"ec2-instance": aws_json(dummy_credentials(started))},
        }},
        "instance-action": "none",
        "instance-id": iid,
        "instance-life-cycle": "on-demand",
        "instance-type": INSTANCE_TYPE,
        "local-hostname": local_host,
        "local-ipv4": PRIVATE_IP,
        "mac": MAC,
        "metrics": {"vhostmd": '<?xml version="1.0" encoding="UTF-8"?>'},
        "network": {"interfaces": {"macs": {MAC: {
            "device-number": "0",
            "interface-id": ENI_ID,
            "ipv4-associations": {PUBLIC_IP: PRIVATE_IP},
            "local-hostname": local_host,
            "local-ipv4s": PRIVATE_IP,
            "mac": MAC,
            "owner-id": ACCOUNT_ID,
            "public-hostname": public_host,
            "public-ipv4s": PUBLIC_IP,
            "security-group-ids": SG_ID,
            "security-groups": SG_NAME,
            "subnet-id": SUBNET_ID,
            "subnet-ipv4-cidr-block": "10.0.1.0/24",
            "vpc-id": VPC_ID,
            "vpc-ipv4-cidr-block": "10.0.0.0/16",
            "vpc-ipv4-cidr-blocks": "10.0.0.0/16",
        }}}},
        "placement": {"availability-zone": az,
                      "availability-zone-id": region_code(region) + "-az1",
                      "region": region},
        "profile": "default-hvm",
        "public-hostname": public_host,
        "public-ipv4": PUBLIC_IP,
        "public-keys": Folder({"0": {"openssh-key": SSH_KEY}}, {"0": "0=" + KEY_NAME}),
        "reservation-id": RESERVATION_ID,
        "security-groups": SG_NAME,
        "services": {"domain": "amazonaws.com", "partition": "aws"},
        "system": "nitro",
    }
    if c["tags_enabled"]:
        # protocols.md: keys containing "/" are not exposed.
        md["tags"] = {"instance": {k: v for k, v in c["tags"].items() if "/" not in k}}
    if c["iam_role"] is not None:
        role = c["iam_role"]
        md["iam"] = {
            "info": aws_json({"Code": "Success", "LastUpdated": iso(c["iam_since"]),
                              "InstanceProfileArn": "arn:aws:iam::%s:instance-profile/%s" % (
                                  ACCOUNT_ID, role),
                              "InstanceProfileId": "AIPAIMDSSTANDIN000000"}),
            "security-credentials": {role: aws_json(c["iam_credentials"])},
        }
    document = {
        "accountId": ACCOUNT_ID, "architecture": ARCHITECTURE, "availabilityZone": az,
        "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
        "imageId": AMI_ID, "instanceId": iid, "instanceType": INSTANCE_TYPE,
        "kernelId": None, "pendingTime": iso(started), "privateIp": PRIVATE_IP,
        "ramdiskId": None, "region": region, "version": "2017-09-30",
    }
    root = {
        "dynamic": {"instance-identity": {
            "document": aws_json(document),
            "pkcs7": DUMMY_SIG,
            "signature": DUMMY_SIG,
            "rsa2048": DUMMY_SIG,
        }},
        "meta-data": md,
    }
    if c["user_data"] is not None:
        root["user-data"] = c["user_data"]        # bytes: served as octet-stream
    return root


# ---------------------------------------------------------------------------
# State: configuration, tokens, fail counter, request log. One RLock, flat
# critical sections only (testing.md: nested locking deadlocks the server).

class State:
    def __init__(self, args, user_data):
        self.lock = threading.RLock()
        self.started = time.time()
        self.tokens = {}                   # token -> expiry (time.monotonic())
        self.token_uses = {}               # token -> GETs it authorised
        self.token_max_uses = None         # None: unlimited (control: token_max_uses)
        self.tokens_required = args.tokens == "required"
        self.fail_left = args.fail_first
        self.fail_mode = args.fail_mode
        self.released = threading.Event()  # replaced whenever fail settings change
        self.user_data = user_data
        self.tags_enabled = args.tags_enabled
        self.tags = dict(args.tag)
        self.instance_id = args.instance_id
        self.region = args.region
        self.iam_role = None
        self.iam_credentials = None
        self.iam_since = None
        self.requests = []
        self.tree = None
        self.rebuild()

    def rebuild(self):
        """Recompute the tree after a change (callers hold the lock or are __init__)."""
        with self.lock:
            self.tree = build_root({
                "region": self.region, "instance_id": self.instance_id,
                "started": self.started, "tags_enabled": self.tags_enabled,
                "tags": dict(self.tags), "iam_role": self.iam_role,
                "iam_credentials": self.iam_credentials, "iam_since": self.iam_since,
                "user_data": self.user_data})

    def root(self):
        with self.lock:
            return self.tree              # never mutated, only replaced

    # tokens -------------------------------------------------------------------
    def new_token(self, ttl):
        now = time.monotonic()
        token = secrets.token_urlsafe(42)   # 56 characters, like EC2's
        with self.lock:
            for t in [t for t, exp in self.tokens.items() if exp <= now]:
                del self.tokens[t]
            while len(self.tokens) >= MAX_TOKENS:
                del self.tokens[next(iter(self.tokens))]
            self.tokens[token] = now + ttl
        return token

    def token_valid(self, token):
        """Also counts the use: with token_max_uses set, a token stops being
        valid after that many GETs (a deterministic stand-in for expiry)."""
        with self.lock:
            exp = self.tokens.get(token)
            if exp is None or exp <= time.monotonic():
                return False
            uses = self.token_uses.get(token, 0) + 1
            self.token_uses[token] = uses
            return self.token_max_uses is None or uses <= self.token_max_uses

    def expire_tokens(self):
        with self.lock:
            n = len(self.tokens)
            self.tokens = {}
            return n

    def required(self):
        with self.lock:
            return self.tokens_required

    # boot race ----------------------------------------------------------------
    def take_fail(self):
        """(mode, release event) when this request is to fail, else (None, None)."""
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return self.fail_mode, self.released
            return None, None

    # control --------------------------------------------------------------------
    def set_user_data(self, data):
        with self.lock:
            self.user_data = data
            self.rebuild()

    def set_tags(self, enabled, tags):
        with self.lock:
            if enabled is not None:
                self.tags_enabled = enabled
            if tags is not None:
                self.tags = tags
            self.rebuild()
            return {"enabled": self.tags_enabled, "tags": dict(self.tags)}

    def configure(self, cfg):
        with self.lock:
            if "tokens" in cfg:
                self.tokens_required = cfg["tokens"] == "required"
            if "fail_first" in cfg:
                self.fail_left = cfg["fail_first"]
            if "fail_mode" in cfg:
                self.fail_mode = cfg["fail_mode"]
            if "fail_first" in cfg or "fail_mode" in cfg:
                self.released.set()          # ends requests held by "timeout"
                self.released = threading.Event()
            if "token_max_uses" in cfg:
                self.token_max_uses = cfg["token_max_uses"]
            if "instance_id" in cfg:
                self.instance_id = cfg["instance_id"]
            if "region" in cfg:
                self.region = cfg["region"]
            if "iam_role" in cfg:
                self.iam_role = cfg["iam_role"]
                self.iam_since = time.time()
                if self.iam_role is not None and self.iam_credentials is None:
                    self.iam_credentials = dummy_credentials(self.iam_since)
            if "iam_credentials" in cfg:
                self.iam_credentials = (cfg["iam_credentials"] if cfg["iam_credentials"] is not None
                                        else dummy_credentials(self.iam_since or time.time()))
            self.rebuild()
            return self.config()

    def config(self):
        with self.lock:
            return {"tokens": "required" if self.tokens_required else "optional",
                    "fail_first": self.fail_left, "fail_mode": self.fail_mode,
                    "instance_id": self.instance_id, "region": self.region,
                    "availability_zone": self.region + "a",
                    "iam_role": self.iam_role, "iam_credentials": self.iam_credentials,
                    "tags_enabled": self.tags_enabled, "tags": dict(self.tags),
                    "user_data_bytes": None if self.user_data is None else len(self.user_data),
                    "live_tokens": sum(1 for e in self.tokens.values() if e > time.monotonic())}

    # request log ----------------------------------------------------------------
    def log_request(self, entry):
        with self.lock:
            self.requests.append(entry)

    def finish_request(self, entry, status, fault):
        with self.lock:
            entry["status"] = status
            entry["fault"] = fault

    def stats(self):
        with self.lock:
            return [dict(e) for e in self.requests]

    def reset_stats(self):
        with self.lock:
            self.requests = []


# ---------------------------------------------------------------------------
# Responses

@dataclass
class Response:
    status: int
    body: bytes = b""
    ctype: str = "text/plain"
    headers: list = field(default_factory=list)


REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 500: "Internal Server Error", 503: "Service Unavailable"}


def error_page(status, headers=()):
    """IMDS's error body (an XHTML page titled "404 - Not Found" etc.)."""
    title = "%d - %s" % (status, REASONS[status])
    body = ('<?xml version="1.0" encoding="iso-8859-1"?>\n'
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
            '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
            '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
            ' <head>\n  <title>%s</title>\n </head>\n <body>\n  <h1>%s</h1>\n </body>\n'
            '</html>\n' % (title, title))
    return Response(status, body.encode(), "text/html", list(headers))


def json_response(status, obj):
    return Response(status, json.dumps(obj).encode(), "application/json")


# ---------------------------------------------------------------------------
# Handlers

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive: every response has Content-Length
    wbufsize = -1                     # one write per response (testing.md: Nagle)
    timeout = IDLE_TIMEOUT            # bounded idle keep-alive and stalled I/O
    server_version = "EC2ws"

    def setup(self):
        super().setup()
        try:  # a body past the write buffer goes out in a second write: no Nagle wait
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self):
        return self.server_version

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

    def send(self, resp):
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        for k, v in resp.headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        try:
            if self.command != "HEAD":
                self.wfile.write(resp.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class MainHandler(Handler):
    def do_GET(self):
        self.handle_main()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def handle_main(self):
        state = self.server.state
        path = urlsplit(self.path).path
        self.drain_body()
        token = self.headers.get(TOKEN_HEADER)
        token_state = "none" if token is None else (
            "valid" if state.token_valid(token) else "invalid")
        ttl = self.headers.get(TTL_HEADER)
        xff = self.headers.get("X-Forwarded-For") is not None
        entry = {"method": self.command, "path": path, "status": None, "token": token_state,
                 "ttl_header": ttl, "xff": xff, "fault": None,
                 "user_agent": self.headers.get("User-Agent")}
        state.log_request(entry)
        mode, released = state.take_fail()
        if mode is not None:
            status = self.fail(mode, released)
        else:
            resp = self.route(path, token_state, xff)
            self.send(resp)
            status = resp.status
        state.finish_request(entry, status, mode)
        log("imds %s %s %s token=%s ttl=%s xff=%s fail=%s" % (
            self.command, path, status or "-", token_state,
            "-" if ttl is None else ttl[:16], "yes" if xff else "no", mode or "-"))

    def drain_body(self):
        """Read and drop a request body so the connection stays usable; one we
        cannot read safely ends the connection after the answer."""
        n = self.request_length()
        if n is None or n > MAIN_BODY_DRAIN_MAX:
            self.close_connection = True
        elif n:
            self.rfile.read(n)

    # routes ----------------------------------------------------------------------
    def route(self, path, token_state, xff):
        method = self.command
        if method == "PUT" and xff:
            return error_page(403)
        if path == TOKEN_PATH:
            if method != "PUT":
                return error_page(405, [("Allow", "PUT")])
            return self.token_put()
        if method not in ("GET", "HEAD"):
            return error_page(405, [("Allow", "GET, HEAD")])
        if token_state == "invalid" or (token_state == "none" and self.server.state.required()):
            return error_page(401)
        return self.lookup(path)

    def token_put(self):
        values = self.headers.get_all(TTL_HEADER) or []
        raw = values[0].strip() if len(values) == 1 else ""
        if not TTL_RE.match(raw) or not TTL_MIN <= int(raw) <= TTL_MAX:
            return error_page(400)
        ttl = int(raw)
        token = self.server.state.new_token(ttl)
        return Response(200, token.encode(), "text/plain", [(TTL_HEADER, str(ttl))])

    def lookup(self, path):
        if not path.startswith("/"):
            return error_page(404)
        parts = path.split("/")[1:]
        if parts == [""]:
            return Response(200, "\n".join(VERSIONS).encode())
        if unquote(parts[0]) not in VERSION_SET:
            return error_page(404)
        node = resolve(self.server.state.root(), [unquote(p) for p in parts[1:]])
        if node is None:
            return error_page(404)
        if isinstance(node, dict):
            return Response(200, listing(node).encode())
        if isinstance(node, bytes):
            return Response(200, node, "application/octet-stream")
        return Response(200, node.encode())

    # boot race -------------------------------------------------------------------
    def fail(self, mode, released):
        """Fail this request; return the status sent, or None when none was."""
        if mode in ("500", "503"):
            self.send(error_page(int(mode)))
            return int(mode)
        if mode == "timeout":
            self.hold(FAIL_HOLD, released)
        else:
            self.reset()
        return None

    def hold(self, seconds, released):
        """Say nothing until the client closes, `seconds` pass, the fail settings
        change or the server stops; then close. Waits in select() (no busy loop);
        the short slice only bounds how late a change is noticed."""
        self.close_connection = True
        deadline = time.monotonic() + seconds
        sock = self.connection
        while not released.is_set() and not STOP.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            readable, _, _ = select.select([sock], [], [], min(remaining, 0.2))
            if readable:
                try:
                    if not sock.recv(65536):
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


# ---------------------------------------------------------------------------
# Control server

class BadRequest(Exception):
    pass


class PayloadTooLarge(Exception):
    pass


class ControlHandler(Handler):
    server_version = "imds-standin-control"

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
        self.send(json_response(status, obj))
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
        if (method, path) == ("POST", "/user-data"):
            state.set_user_data(body)
            return 200, {"ok": True, "bytes": len(body)}
        if (method, path) == ("DELETE", "/user-data"):
            state.set_user_data(None)
            return 200, {"ok": True}
        if (method, path) == ("POST", "/tags"):
            enabled, tags = parse_tags(json_object(body))
            return 200, state.set_tags(enabled, tags)
        if (method, path) == ("POST", "/config"):
            return 200, state.configure(parse_config(json_object(body)))
        if (method, path) == ("GET", "/config"):
            return 200, state.config()
        if (method, path) == ("POST", "/tokens/expire"):
            return 200, {"expired": state.expire_tokens()}
        if (method, path) == ("GET", "/stats"):
            return 200, {"requests": state.stats()}
        if (method, path) == ("POST", "/stats/reset"):
            state.reset_stats()
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


def check_tags(tags):
    if not isinstance(tags, dict):
        raise BadRequest('"tags" must be an object of strings')
    for k, v in tags.items():
        if not k or not isinstance(v, str) or "\n" in k or "\r" in k:
            raise BadRequest('tags: keys non-empty, one line; values strings')
    return dict(tags)


def parse_tags(obj):
    unknown = set(obj) - {"enabled", "tags"}
    if unknown:
        raise BadRequest("unknown fields: %s" % ", ".join(sorted(unknown)))
    enabled = obj.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise BadRequest('"enabled" must be a boolean')
    tags = obj.get("tags")
    return enabled, None if tags is None else check_tags(tags)


def one_line(name, v):
    if not isinstance(v, str) or not v or re.search(r"[\x00-\x1f\x7f/]", v):
        raise BadRequest('"%s" must be a non-empty string without "/" or control characters' % name)
    return v


def parse_config(obj):
    allowed = {"tokens", "fail_first", "fail_mode", "instance_id", "region",
               "iam_role", "iam_credentials", "token_max_uses"}
    unknown = set(obj) - allowed
    if unknown:
        raise BadRequest("unknown fields: %s" % ", ".join(sorted(unknown)))
    if "tokens" in obj and obj["tokens"] not in TOKEN_MODES:
        raise BadRequest('"tokens" must be "required" or "optional"')
    if "fail_first" in obj and (not is_int(obj["fail_first"]) or obj["fail_first"] < 0):
        raise BadRequest('"fail_first" must be a non-negative integer')
    if "token_max_uses" in obj and obj["token_max_uses"] is not None and (
            not is_int(obj["token_max_uses"]) or obj["token_max_uses"] < 1):
        raise BadRequest('"token_max_uses" must be a positive integer or null')
    if "fail_mode" in obj and obj["fail_mode"] not in FAIL_MODES:
        raise BadRequest('"fail_mode" must be one of %s' % ", ".join(FAIL_MODES))
    if "instance_id" in obj:
        one_line("instance_id", obj["instance_id"])
    if "region" in obj:
        one_line("region", obj["region"])
    if obj.get("iam_role") is not None:
        one_line("iam_role", obj["iam_role"])
    if obj.get("iam_credentials") is not None and not isinstance(obj["iam_credentials"], dict):
        raise BadRequest('"iam_credentials" must be an object or null')
    return obj


# ---------------------------------------------------------------------------
# Servers and main

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, name, handler, state):
        self.name = name
        self.state = state
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return                  # a client that went away: not worth a traceback
        super().handle_error(request, client_address)


def write_port_file(path, ports):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ports, f)
        f.write("\n")
    os.replace(tmp, path)


def tag_arg(s):
    key, sep, value = s.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("--tag wants KEY=VALUE, got %r" % s)
    return key, value


def parse_args(argv):
    p = argparse.ArgumentParser(description="EC2 instance metadata service stand-in for hail's tests.")
    p.add_argument("--port-file", required=True, help='gets {"port": N, "control_port": M}')
    p.add_argument("--user-data", help="file whose raw bytes are the user-data (default: none, 404)")
    p.add_argument("--tokens", choices=TOKEN_MODES, default="required",
                   help="http-tokens: required (IMDSv2 only, default) or optional")
    p.add_argument("--tags-enabled", action="store_true",
                   help="serve meta-data/tags/instance/ (instance-metadata-tags enabled)")
    p.add_argument("--tag", type=tag_arg, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--instance-id", default=DEFAULT_INSTANCE_ID)
    p.add_argument("--region", default=DEFAULT_REGION, help="availability zone is REGION + 'a'")
    p.add_argument("--fail-first", type=int, default=0, metavar="N",
                   help="the first N requests fail in --fail-mode")
    p.add_argument("--fail-mode", choices=FAIL_MODES, default="refuse")
    p.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = p.parse_args(argv)
    if args.fail_first < 0:
        p.error("--fail-first must be >= 0")
    for name in ("instance_id", "region"):
        try:
            one_line(name, getattr(args, name))
        except BadRequest as e:
            p.error(str(e))
    for k, _ in args.tag:
        if "\n" in k or "\r" in k:
            p.error("--tag keys must be one line")
    return args


def main(argv=None):
    global QUIET
    args = parse_args(argv)
    QUIET = args.quiet
    user_data = None
    if args.user_data is not None:
        with open(args.user_data, "rb") as f:
            user_data = f.read()
    state = State(args, user_data)
    main_srv = Server("imds", MainHandler, state)
    control_srv = Server("control", ControlHandler, state)

    # Block SIGTERM/SIGINT before any thread starts (threads inherit the mask),
    # then wait for them synchronously here: no handler, no polling.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    for s in (main_srv, control_srv):
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    write_port_file(args.port_file, {"port": main_srv.server_port,
                                     "control_port": control_srv.server_port})
    log("imds stand-in on 127.0.0.1:%d, control on 127.0.0.1:%d (tokens %s)" % (
        main_srv.server_port, control_srv.server_port, args.tokens))
    signal.sigwait(stop_signals)
    STOP.set()                        # ends held requests
    for s in (main_srv, control_srv):
        s.shutdown()
        s.server_close()
    log("imds stand-in stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
