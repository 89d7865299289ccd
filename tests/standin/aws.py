#!/usr/bin/python3
"""AWS API stand-in (SSM GetParameter, Auto Scaling lifecycle calls) for hail's tests.

Python 3.11 standard library + Debian's python3-botocore (1.29), as /usr/bin/python3 on
Debian 12. botocore's own SigV4 signer checks every signature: the point of this
stand-in is to refuse what AWS refuses, in the shape AWS refuses it.

Usage:
    python3 aws.py --port-file FILE [--region REGION] [--quiet]

Two servers on 127.0.0.1, both on OS-picked ports, written to FILE (atomically)
as {"port": N, "control_port": M} once both listen. SIGTERM/SIGINT: clean exit.

Main server (shared/protocols.md, "AWS APIs for fleet features"). An X-Amz-Target header
makes a request SSM's (JSON 1.1), anything else is Auto Scaling's (query API); errors come
in that service's shape: SSM {"__type": CODE, "message": M}, Auto Scaling <ErrorResponse>
<Error><Type>Sender|Receiver</Type><Code/><Message/></Error><RequestId/></ErrorResponse>.
  Signature checks, the first failure answers (SSM code status / Auto Scaling code status):
    no Authorization header     MissingAuthenticationTokenException 400 / ...Token 403
    garbled Authorization, no or malformed X-Amz-Date
                                IncompleteSignatureException 400 / IncompleteSignature 400
    scope service not the request's, region not the configured one, scope date not
    X-Amz-Date's, X-Amz-Date over 15 minutes off ("Signature expired: ..." / "Signature
    not yet current: ...")      InvalidSignatureException 400 / SignatureDoesNotMatch 403
    unknown key id, X-Amz-Security-Token missing, unexpected or not that key's
                                UnrecognizedClientException 400 / InvalidClientTokenId 403
    key marked expired          ExpiredTokenException 400 / ExpiredToken 403
    token or X-Amz-Date not among SignedHeaders, a signed header absent, X-Amz-Content-
    SHA256 not the body's hash, signature mismatch (botocore's SigV4Auth recomputes it
    over method, URL as received, body, exactly the signed headers and X-Amz-Date)
                                InvalidSignatureException 400 / SignatureDoesNotMatch 403
  Then an armed fault (control server) may refuse it; then:
  POST / X-Amz-Target: AmazonSSM.GetParameter {"Name": N, "WithDecryption": B} -> {"Parameter":
      {"Name", "Type", "Value", "Version", "LastModifiedDate" (epoch seconds), "ARN",
      "DataType": "text"}}; a SecureString without WithDecryption true shows a fake
      ciphertext (base64) as Value. Unknown name: 400 {"__type": "ParameterNotFound"}
      (no message, as SSM answers). Other targets: 400 UnknownOperationException
      (coral-prefixed). Bad JSON or content type: 400 SerializationException; no Name:
      400 ValidationException.
  POST / (application/x-www-form-urlencoded) or GET /?QUERY with Action=A&Version=2011-01-01
      (other action or version: 400 InvalidAction; none: 400 MissingAction; missing or
      bad parameters: 400 ValidationError). XML answers as botocore's model shapes them:
      <AResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><AResult>...
      </AResult><ResponseMetadata><RequestId/></ResponseMetadata></AResponse>
    CompleteLifecycleAction  AutoScalingGroupName, LifecycleHookName, LifecycleActionResult
        CONTINUE|ABANDON, InstanceId and/or LifecycleActionToken. An instance in Pending:Wait
        or Terminating:Wait with a hook has an active action; group, hook and instance or
        token must match it, else "No active Lifecycle Action found with instance ID I"
        (or "with token T"). Pending:Wait -> InService (CONTINUE) or Terminating (ABANDON);
        Terminating:Wait -> Terminating:Proceed.
    RecordLifecycleActionHeartbeat  the same minus the result; the state stays.
    SetInstanceHealth  InstanceId, HealthStatus Healthy|Unhealthy, ShouldRespectGracePeriod
        true|false (optional); no Result element (the model has no output).
    DescribeAutoScalingInstances  InstanceIds.member.N (none: all; unknown ids skipped),
        MaxRecords 1..50; HealthStatus as HEALTHY|UNHEALTHY, as AWS reports it there.
  Bodies over 256 KiB: 413, chunked ones: 411 (connection closed).

Control server (no auth, JSON in and out, request bodies capped at 64 KiB):
    POST /config     any of {"region": S, "credentials": [{"AccessKeyId", "SecretAccessKey",
                     "Token": S|null, "expired": bool}, ...], "parameters": {NAME: {"Type":
                     "String"|"StringList"|"SecureString", "Value": S}}, "instances": {ID:
                     {"group": S, "hook": S|null, "state": S (default "InService"),
                     "health": "Healthy"|"Unhealthy"}}}; each field given replaces the old
                     one; unknown fields -> 400; -> the configuration, as GET /config
    GET  /config     -> {"region", "credentials" (secrets shown), "parameters", "instances",
                        "faults" (armed ones)}
    POST /credentials/expire  {"AccessKeyId": K}: K is refused as expired from now on
    POST /fault      {"operation": "GetParameter"|"CompleteLifecycleAction"|...|"any",
                     "code": "throttle"|"500"|"expired"|"denied", "count": N (default 1)}:
                     the next N matching requests that pass the signature check get
                     throttle  ThrottlingException 400 / Throttling 400
                     500       InternalServerError 500 / InternalFailure 500
                     expired   ExpiredTokenException 400 / ExpiredToken 403
                     denied    AccessDeniedException 400 / AccessDenied 403
    POST /fault/clear         disarms every fault
    GET  /calls      -> {"calls": [{"service": "ssm"|"autoscaling", "operation", "params"
                        (parsed; never credentials), "auth": "ok"|CODE|null (refused before
                        the check), "status", "error": CODE|null, "time"}, ...]}; codes bare
    POST /calls/reset         clears the call log
    GET  /instances  -> {"instances": {ID: {"group", "hook", "state", "health",
                        "lifecycle_action_token": S|null, "events": [{"action":
                        "RecordLifecycleActionHeartbeat", "time"}, {"action":
                        "CompleteLifecycleAction", "result", "time"}, {"action":
                        "SetInstanceHealth", "health", "should_respect_grace_period":
                        bool|null, "time"}, ...]}}}
The request log on stderr (one line per request, unless --quiet) shows key ids, never
secrets, tokens, signatures or parameter values.
"""

import argparse
import base64
import calendar
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CONTROL_BODY_MAX = 64 * 1024      # control requests (brief: capped at 64 KiB)
MAIN_BODY_MAX = 256 * 1024        # API requests: far above any GetParameter or form body
IDLE_TIMEOUT = 120                # seconds a connection may sit idle or stall
MAX_SKEW = 15 * 60                # AWS: X-Amz-Date at most 15 minutes off
ACCOUNT_ID = "123456789012"
AS_VERSION = "2011-01-01"
AS_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
SSM_PREFIX = "AmazonSSM."
CORAL = "com.amazon.coral.service#"   # framework errors may carry it; clients cut to '#'
AMZ_DATE = "%Y%m%dT%H%M%SZ"
AS_ACTIONS = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat",
              "SetInstanceHealth", "DescribeAutoScalingInstances")
FAULT_CODES = ("throttle", "500", "expired", "denied")

# kind -> (SSM __type, status, Auto Scaling Code, status). Sources: the Common Errors pages
# of the Auto Scaling and SSM API references, botocore's models, errors seen from AWS.
ERRORS = {
    "missing_auth": (CORAL + "MissingAuthenticationTokenException", 400,
                     "MissingAuthenticationToken", 403),
    "incomplete": ("IncompleteSignatureException", 400, "IncompleteSignature", 400),
    "signature": ("InvalidSignatureException", 400, "SignatureDoesNotMatch", 403),
    "unknown_key": ("UnrecognizedClientException", 400, "InvalidClientTokenId", 403),
    "expired": ("ExpiredTokenException", 400, "ExpiredToken", 403),
    "throttle": ("ThrottlingException", 400, "Throttling", 400),
    "500": ("InternalServerError", 500, "InternalFailure", 500),
    "denied": ("AccessDeniedException", 400, "AccessDenied", 403),
    "validation": ("ValidationException", 400, "ValidationError", 400),
    "unknown_op": (CORAL + "UnknownOperationException", 400, "InvalidAction", 400),
    "serialization": ("SerializationException", 400, "MalformedInput", 400),
    "too_large": ("RequestEntityTooLargeException", 413, "RequestEntityTooLarge", 413),
    "no_length": ("LengthRequiredException", 411, "MissingContentLength", 411),
}
MSG_SIGNATURE = ("The request signature we calculated does not match the signature you "
                 "provided. Check your AWS Secret Access Key and signing method. Consult "
                 "the service documentation for details.")
MSG_BAD_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED = "The security token included in the request is expired"
FAULT_MESSAGES = {"throttle": "Rate exceeded", "500": "An internal error occurred.",
                  "expired": MSG_EXPIRED}
# botocore's SSM model: InternalServerError has "Message"; coral's AccessDenied does too.
SSM_CAPITAL_MESSAGE = ("InternalServerError", "AccessDeniedException")

QUIET = False


def log(line):
    if not QUIET:
        print(line, file=sys.stderr, flush=True)


class ApiError(Exception):
    """A refusal: kind is an ERRORS key or a (code, status) pair; reason goes to the log."""

    def __init__(self, kind, message=None, reason=None):
        super().__init__(message)
        self.kind, self.message, self.reason = kind, message, reason


def error_code(kind, service):
    if isinstance(kind, tuple):
        return kind
    ssm_code, ssm_status, as_code, as_status = ERRORS[kind]
    return (ssm_code, ssm_status) if service == "ssm" else (as_code, as_status)


def bare(code):
    return code.rsplit("#", 1)[-1]


def amz(t):
    return time.strftime(AMZ_DATE, time.gmtime(t))


# ---------------------------------------------------------------------------
# State: configuration, faults, call log. One RLock, flat critical sections only.

class State:
    def __init__(self, region):
        self.lock = threading.RLock()
        self.region = region
        self.credentials = {}     # AccessKeyId -> {"SecretAccessKey", "Token", "expired"}
        self.parameters = {}      # name -> {"Type", "Value", "Version", "LastModifiedDate"}
        self.instances = {}       # id -> {"group", "hook", "state", "health", token, events}
        self.faults = []          # [{"operation", "code", "count"}]
        self.calls = []

    def configure(self, cfg):
        with self.lock:
            self.region = cfg.get("region", self.region)
            if "credentials" in cfg:
                self.credentials = {c["AccessKeyId"]: {
                    "SecretAccessKey": c["SecretAccessKey"], "Token": c.get("Token"),
                    "expired": c.get("expired", False)} for c in cfg["credentials"]}
            if "parameters" in cfg:
                self.parameters = {n: dict(p, Version=1, LastModifiedDate=time.time())
                                   for n, p in cfg["parameters"].items()}
            if "instances" in cfg:
                self.instances = {}
                for iid, i in cfg["instances"].items():
                    inst = {"group": i["group"], "hook": i.get("hook"),
                            "state": i.get("state", "InService"),
                            "health": i.get("health", "Healthy"), "events": []}
                    inst["lifecycle_action_token"] = (str(uuid.uuid4())
                                                      if active_action(inst) else None)
                    self.instances[iid] = inst
            return self.config()

    def config(self):
        with self.lock:
            return {"region": self.region,
                    "credentials": [dict(AccessKeyId=k, **v) for k, v in self.credentials.items()],
                    "parameters": {n: {"Type": p["Type"], "Value": p["Value"]}
                                   for n, p in self.parameters.items()},
                    "instances": {i: {k: v[k] for k in ("group", "hook", "state", "health")}
                                  for i, v in self.instances.items()},
                    "faults": [dict(f) for f in self.faults if f["count"] > 0]}

    def take_fault(self, operation):
        with self.lock:
            for f in self.faults:
                if f["count"] > 0 and f["operation"] in ("any", operation):
                    f["count"] -= 1
                    return f["code"]
            return None


def active_action(inst):
    return bool(inst["hook"]) and inst["state"] in ("Pending:Wait", "Terminating:Wait")


# ---------------------------------------------------------------------------
# SigV4 verification with botocore's own signer

def parse_authorization(value):
    """[akid, date, region, service, terminator, signed_headers, signature]."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise ApiError("incomplete", "Unsupported AWS 'algorithm': '%s'" % algorithm[:40])
    parts = dict(p.strip().partition("=")[::2] for p in rest.split(","))
    missing = [k for k in ("Credential", "Signature", "SignedHeaders") if not parts.get(k)]
    if missing:
        raise ApiError("incomplete", " ".join(
            "Authorization header requires '%s' parameter." % k for k in missing))
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise ApiError("incomplete", "Credential must be AKID/YYYYMMDD/REGION/SERVICE/"
                       "aws4_request")
    return scope + [parts["SignedHeaders"], parts["Signature"]]


def amz_date_of(headers):
    dates = headers.get_all("X-Amz-Date") or []
    if len(dates) != 1:
        raise ApiError("incomplete", "Authorization header requires existence of an "
                       "'X-Amz-Date' header.")
    try:
        when = calendar.timegm(time.strptime(dates[0], AMZ_DATE))
    except ValueError:
        when = None
    if when is None or not re.fullmatch(r"[0-9]{8}T[0-9]{6}Z", dates[0]):
        raise ApiError("incomplete", "Date must be in ISO-8601 'basic format'. Got '%s'."
                       % dates[0][:40])
    return dates[0], when


def authenticate(handler, service, body, state):
    """The access key id of a correctly signed request; ApiError otherwise."""
    h = handler.headers
    auths = h.get_all("Authorization") or []
    if not auths:
        raise ApiError("missing_auth", "Request is missing Authentication Token")
    if len(auths) > 1:
        raise ApiError("incomplete", "More than one Authorization header")
    akid, date, region, scope_service, terminator, signed, signature = \
        parse_authorization(auths[0])
    amz_date, when = amz_date_of(h)
    with state.lock:
        good_region = state.region
        cred = dict(state.credentials.get(akid) or {}) or None
    scope_error = (
        terminator != "aws4_request" and "Credential should be scoped with a valid "
        "terminator: 'aws4_request', not '%s'. " % terminator[:40]
        or scope_service != service and "Credential should be scoped to correct service: "
        "'%s'. " % service
        or region != good_region and "Credential should be scoped to a valid region, not "
        "'%s'. " % region[:40]
        or date != amz_date[:8] and "Date in Credential scope does not match YYYYMMDD from "
        "ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'."
        % (date[:40], amz_date[:8], amz_date))
    if scope_error:
        raise ApiError("signature", scope_error)
    now = time.time()
    if when < now - MAX_SKEW:
        raise ApiError("signature", "Signature expired: %s is now earlier than %s (%s - 15 "
                       "min.)" % (amz_date, amz(now - MAX_SKEW), amz(now)))
    if when > now + MAX_SKEW:
        raise ApiError("signature", "Signature not yet current: %s is still later than %s "
                       "(%s + 15 min.)" % (amz_date, amz(now + MAX_SKEW), amz(now)))

    tokens = h.get_all("X-Amz-Security-Token") or []
    token = tokens[0] if len(tokens) == 1 else None
    if cred is None or len(tokens) > 1 or (cred["Token"] or None) != token:
        raise ApiError("unknown_key", MSG_BAD_TOKEN,
                       reason="unknown key" if cred is None else "token missing or wrong")
    if cred["expired"]:
        raise ApiError("expired", MSG_EXPIRED)

    def bad(why):
        return ApiError("signature", MSG_SIGNATURE, reason=why)

    names = signed.split(";")
    if token is not None and "x-amz-security-token" not in names:
        raise bad("X-Amz-Security-Token is not among the signed headers")
    if "x-amz-date" not in names:
        raise bad("X-Amz-Date is not among the signed headers")
    sha = h.get_all("X-Amz-Content-SHA256")
    if sha and sha != [hashlib.sha256(body).hexdigest()]:
        # botocore takes this header's word for the body hash: check it ourselves.
        raise bad("X-Amz-Content-SHA256 is not the body's SHA-256")
    # Rebuild the request as received: method, URL with the query exactly as sent, body
    # bytes and only the signed headers (every value of a repeated one).
    url = "http://127.0.0.1:%d%s" % (handler.server.server_port, handler.path)
    request = AWSRequest(method=handler.command, url=url, data=body)
    for name in names:
        if name in SIGNED_HEADERS_BLACKLIST:
            raise bad("signed header %r: botocore's signer never signs it" % name)
        if not h.get_all(name):
            raise bad("signed header %r is not in the request" % name)
        for value in h.get_all(name):
            request.headers[name] = value
    signer = SigV4Auth(Credentials(akid, cred["SecretAccessKey"], token), service, region)
    if signer.signed_headers(signer.headers_to_sign(request)) != signed:
        raise bad("SignedHeaders is not the sorted lower-case list (with host)")
    request.context["timestamp"] = amz_date      # what add_auth takes from its clock
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise bad("signature mismatch")
    return akid


# ---------------------------------------------------------------------------
# SSM

def fake_ciphertext(name, value):
    """A SecureString's Value without decryption: base64 like a KMS blob ("AQICAH..."),
    revealing nothing of the value."""
    digest = hashlib.sha256(("hail-stand-in\0%s\0%s" % (name, value)).encode()).digest()
    return base64.b64encode(b"\x01\x02\x02\x00\x78" + digest + digest[::-1]).decode()


def get_parameter(state, params):
    if not isinstance(params, dict):
        raise ApiError("serialization", "Start of structure or map found where not expected.")
    name, decrypt = params.get("Name"), params.get("WithDecryption", False)
    if name is None:
        raise ApiError("validation", "1 validation error detected: Value null at 'name' "
                       "failed to satisfy constraint: Member must not be null")
    if not isinstance(name, str) or not isinstance(decrypt, bool):
        raise ApiError("serialization", "Name must be a string, WithDecryption a boolean")
    with state.lock:
        p, region = dict(state.parameters.get(name) or {}), state.region
    if not p:
        raise ApiError(("ParameterNotFound", 400))
    value = p["Value"]
    if p["Type"] == "SecureString" and not decrypt:
        value = fake_ciphertext(name, value)
    arn = "arn:aws:ssm:%s:%s:parameter%s%s" % (region, ACCOUNT_ID,
                                              "" if name.startswith("/") else "/", name)
    return {"Parameter": {"Name": name, "Type": p["Type"], "Value": value,
                          "Version": p["Version"], "LastModifiedDate": p["LastModifiedDate"],
                          "ARN": arn, "DataType": "text"}}


# ---------------------------------------------------------------------------
# Auto Scaling: each returns the inside of the Result element, or None for none.

def require(params, *names):
    missing = ["Value null at '%s' failed to satisfy constraint: Member must not be null"
               % (n[0].lower() + n[1:]) for n in names if not params.get(n)]
    if missing:
        raise ApiError("validation", "%d validation error%s detected: %s" % (
            len(missing), "" if len(missing) == 1 else "s", "; ".join(missing)))


def lifecycle_action(state, params, complete):
    require(params, "AutoScalingGroupName", "LifecycleHookName",
            *(("LifecycleActionResult",) if complete else ()))
    result = params.get("LifecycleActionResult")
    if complete and result not in ("CONTINUE", "ABANDON"):
        raise ApiError("validation", "Valid values for LifecycleActionResult are CONTINUE "
                       "and ABANDON, not '%s'" % result[:40])
    iid, token = params.get("InstanceId"), params.get("LifecycleActionToken")
    if not iid and not token:
        raise ApiError("validation", "Either LifecycleActionToken or InstanceId must be "
                       "specified")
    with state.lock:
        found = [inst for i, inst in state.instances.items()
                 if (not iid or i == iid) and active_action(inst)
                 and (not token or inst["lifecycle_action_token"] == token)
                 and inst["group"] == params["AutoScalingGroupName"]
                 and inst["hook"] == params["LifecycleHookName"]]
        if not found:
            raise ApiError("validation", "No active Lifecycle Action found with %s"
                           % ("instance ID " + iid if iid else "token " + token))
        inst = found[0]
        event = {"action": "RecordLifecycleActionHeartbeat", "time": time.time()}
        if complete:
            event.update(action="CompleteLifecycleAction", result=result)
            inst["state"] = ("Terminating:Proceed" if inst["state"] != "Pending:Wait"
                             else "InService" if result == "CONTINUE" else "Terminating")
            inst["lifecycle_action_token"] = None
        inst["events"].append(event)
    return ""                          # an empty <...Result/>, as the model has it


def set_instance_health(state, params):
    require(params, "InstanceId", "HealthStatus")
    health, grace = params["HealthStatus"], params.get("ShouldRespectGracePeriod")
    if health not in ("Healthy", "Unhealthy"):
        raise ApiError("validation", "Valid values for HealthStatus are Healthy and "
                       "Unhealthy, not '%s'" % health[:40])
    if grace not in (None, "true", "false"):
        raise ApiError("validation", "ShouldRespectGracePeriod must be true or false")
    with state.lock:
        inst = state.instances.get(params["InstanceId"])
        if inst is None:
            raise ApiError("validation", "Instance Id not found - No managed instance found "
                           "for instance ID: %s" % params["InstanceId"][:40])
        inst["health"] = health
        inst["events"].append({"action": "SetInstanceHealth", "health": health,
                               "should_respect_grace_period": grace and grace == "true",
                               "time": time.time()})
    return None


def describe_instances(state, params):
    ids = []
    while params.get("InstanceIds.member.%d" % (len(ids) + 1)):
        ids.append(params["InstanceIds.member.%d" % (len(ids) + 1)])
    limit = params.get("MaxRecords", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= 50 or len(ids) > 50:
        raise ApiError("validation", "MaxRecords must be 1..50, InstanceIds at most 50")
    with state.lock:
        chosen = [(i, dict(state.instances[i])) for i in (ids or sorted(state.instances))
                  if i in state.instances][:int(limit)]
        az = state.region + "a"
    return "<AutoScalingInstances>%s</AutoScalingInstances>" % "".join(
        "<member><InstanceId>%s</InstanceId><InstanceType>t3.micro</InstanceType>"
        "<AutoScalingGroupName>%s</AutoScalingGroupName><AvailabilityZone>%s"
        "</AvailabilityZone><LifecycleState>%s</LifecycleState><HealthStatus>%s"
        "</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>"
        % tuple(escape(s) for s in (i, v["group"], az, v["state"], v["health"].upper()))
        for i, v in chosen)


AS_HANDLERS = {
    "CompleteLifecycleAction": lambda s, p: lifecycle_action(s, p, True),
    "RecordLifecycleActionHeartbeat": lambda s, p: lifecycle_action(s, p, False),
    "SetInstanceHealth": set_instance_health,
    "DescribeAutoScalingInstances": describe_instances,
}


# ---------------------------------------------------------------------------
# Responses: (status, content type, body bytes)

def ssm_answer(status, obj):
    return status, "application/x-amz-json-1.1", json.dumps(obj).encode()


def as_answer(action, result, request_id):
    inner = "" if result is None else (
        "<{0}Result>{1}</{0}Result>".format(action, result) if result else "<%sResult/>" % action)
    return 200, "text/xml", (
        '<{0}Response xmlns="{1}">{2}<ResponseMetadata><RequestId>{3}</RequestId>'
        '</ResponseMetadata></{0}Response>\n'.format(action, AS_NS, inner, request_id)).encode()


def error_answer(service, code, status, message, request_id):
    if service == "ssm":
        obj = {"__type": code}
        if message is not None:
            obj["Message" if bare(code) in SSM_CAPITAL_MESSAGE else "message"] = message
        return ssm_answer(status, obj)
    return status, "text/xml", (
        '<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s'
        '</Message></Error><RequestId>%s</RequestId></ErrorResponse>\n' % (
            AS_NS, "Receiver" if status >= 500 else "Sender", code, escape(message or ""),
            request_id)).encode()


def fault_error(kind, service, operation, akid, region):
    if kind != "denied":
        return ApiError(kind, FAULT_MESSAGES[kind])
    resource = ("arn:aws:ssm:%s:%s:parameter/*" if service == "ssm"
                else "arn:aws:autoscaling:%s:%s:autoScalingGroup:*") % (region, ACCOUNT_ID)
    return ApiError("denied", "User: arn:aws:sts::%s:assumed-role/hail-stand-in/%s is not "
                    "authorized to perform: %s:%s on resource: %s because no identity-based "
                    "policy allows the %s:%s action" % (ACCOUNT_ID, akid, service, operation,
                                                        resource, service, operation))


# ---------------------------------------------------------------------------
# Handlers

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive: every response has Content-Length
    wbufsize = -1                     # one write per response (testing.md: Nagle)
    timeout = IDLE_TIMEOUT            # bounded idle keep-alive and stalled I/O

    def setup(self):
        super().setup()
        try:  # a body past the write buffer goes out in a second write: no Nagle wait
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self):
        return "Server"

    def log_request(self, code="-", size="-"):
        pass                          # we log one line per request ourselves

    def log_message(self, fmt, *args):
        log("%s %s" % (self.server.name, fmt % args))

    def read_body(self, limit):
        """The body, or None (connection to be closed) when absent-length or over limit."""
        try:
            n = None if self.headers.get("Transfer-Encoding") else int(
                self.headers.get("Content-Length", "0"))
        except ValueError:
            n = None
        if n is None or not 0 <= n <= limit:
            self.close_connection = True  # the unread body would poison the stream
            return None
        return self.rfile.read(n) if n else b""

    def send(self, status, ctype, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class MainHandler(Handler):
    def do_GET(self):
        state = self.server.state
        request_id = str(uuid.uuid4())
        target = self.headers.get("X-Amz-Target")
        service = "ssm" if target is not None else "autoscaling"
        call = {"service": service, "operation": None, "params": {}, "auth": None,
                "status": None, "error": None, "time": time.time()}
        akid = None
        try:
            body = self.read_body(MAIN_BODY_MAX)
            if body is None:
                raise ApiError("no_length" if self.headers.get("Transfer-Encoding")
                               else "too_large", "Send a Content-Length body of at most "
                               "%d bytes" % MAIN_BODY_MAX)
            operation, params = self.parse(service, target, body)
            call["operation"], call["params"] = operation, scrub(params)
            try:
                akid = authenticate(self, service, body, state)
                call["auth"] = "ok"
            except ApiError as e:
                call["auth"] = bare(error_code(e.kind, service)[0])
                raise
            fault = state.take_fault(operation)
            if fault is not None:
                raise fault_error(fault, service, operation, akid, state.config()["region"])
            answer = self.execute(service, operation, params, request_id)
        except ApiError as e:
            code, status = error_code(e.kind, service)
            call["error"] = bare(code)
            answer = error_answer(service, code, status, e.message, request_id)
            if e.reason:
                log("aws %s refused: %s" % (service, e.reason))
        call["status"] = answer[0]
        with state.lock:               # before answering: a test may read /calls at once
            state.calls.append(call)
        self.send(*answer, headers=[("x-amzn-RequestId", request_id)])
        log("aws %s %s %s %d auth=%s key=%s error=%s" % (
            self.command, service, call["operation"] or "-", answer[0], call["auth"],
            akid or "-", call["error"] or "-"))

    do_POST = do_GET

    def parse(self, service, target, body):
        """(operation, params); what is wrong with them waits until after the auth."""
        if service == "ssm":
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = None
            return target.removeprefix(SSM_PREFIX)[:100], params
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if self.command == "POST" and ctype == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return params.get("Action", "")[:100] or None, params

    def execute(self, service, operation, params, request_id):
        state = self.server.state
        if service == "ssm":
            if self.command != "POST" or operation != "GetParameter":
                raise ApiError("unknown_op")
            if self.headers.get("Content-Type", "").split(";")[0].strip() != \
                    "application/x-amz-json-1.1":
                raise ApiError("serialization", "Content-Type must be "
                               "application/x-amz-json-1.1")
            return ssm_answer(200, get_parameter(state, params))
        if not operation:
            raise ApiError(("MissingAction", 400), "The request must contain the parameter "
                           "Action")
        version = params.get("Version")
        if operation not in AS_HANDLERS or version != AS_VERSION:
            raise ApiError("unknown_op", "Could not find operation %s for version %s"
                           % (operation, (version or "NO_VERSION_SPECIFIED")[:40]))
        return as_answer(operation, AS_HANDLERS[operation](state, params), request_id)


def scrub(params):
    """Request parameters as /calls shows them: never signatures or credentials."""
    if not isinstance(params, dict):
        return {"_unparsed": True}
    return {k: v for k, v in params.items()
            if k not in ("Action", "Version") and not k.lower().startswith("x-amz-")}


class BadRequest(Exception):
    pass


class ControlHandler(Handler):
    def do_GET(self):
        path = urlsplit(self.path).path
        body = self.read_body(CONTROL_BODY_MAX)
        try:
            if body is None:
                raise BadRequest("send a Content-Length body of at most %d bytes"
                                 % CONTROL_BODY_MAX)
            status, obj = self.dispatch(self.command, path, body)
        except BadRequest as e:
            status, obj = 400, {"error": str(e)}
        self.send(status, "application/json", json.dumps(obj).encode())
        log("control %s %s %d" % (self.command, path, status))

    do_POST = do_PUT = do_DELETE = do_GET

    def dispatch(self, method, path, body):
        state = self.server.state
        if method == "GET" and path in ("/config", "/calls", "/instances"):
            with state.lock:
                return 200, {"/config": state.config,
                             "/calls": lambda: {"calls": [dict(c) for c in state.calls]},
                             "/instances": lambda: {"instances": {
                                 i: dict(v, events=[dict(e) for e in v["events"]])
                                 for i, v in state.instances.items()}}}[path]()
        if method != "POST" or path not in ("/config", "/credentials/expire", "/fault",
                                            "/fault/clear", "/calls/reset"):
            return 404, {"error": "no such control endpoint: %s %s" % (method, path)}
        obj = json_object(body)
        if path == "/config":
            return 200, state.configure(valid("config", obj, CONFIG))
        with state.lock:
            if path == "/credentials/expire":
                if obj.get("AccessKeyId") not in state.credentials:
                    raise BadRequest("no such AccessKeyId")
                state.credentials[obj["AccessKeyId"]]["expired"] = True
            elif path == "/fault":
                state.faults.append(dict(count=1, **valid("fault", obj, FAULT,
                                                          ("operation", "code"))))
            elif path == "/fault/clear":
                state.faults = []
            else:
                state.calls = []
        return 200, {"ok": True}


def json_object(body):
    try:
        obj = json.loads(body or b"{}")
    except ValueError as e:
        raise BadRequest("body is not JSON: %s" % e)
    if not isinstance(obj, dict):
        raise BadRequest("body must be a JSON object")
    return obj


def valid(what, obj, spec, required=()):
    """obj: an object with only spec's fields, the required ones present, each value
    passing its spec test."""
    if not isinstance(obj, dict) or set(obj) - set(spec) or set(required) - set(obj):
        raise BadRequest("%s: want an object with fields %s (%s required)" % (
            what, ", ".join(spec), ", ".join(required) or "none"))
    for k, v in obj.items():
        if not spec[k](v):
            raise BadRequest("%s: bad value for %r" % (what, k))
    return obj


def text(v):
    return isinstance(v, str) and v != ""


def text_or_null(v):
    return v is None or text(v)


def all_valid(kind, spec, required):
    """A test for a list (or name -> object map) of objects that each pass spec."""
    def test(v):
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else None
        return items is not None and all(valid("%s %s" % (kind, k), x, spec, required)
                                         for k, x in items)
    return test


CREDENTIAL = {"AccessKeyId": lambda v: text(v) and not re.search(r"[/,\s]", v),
              "SecretAccessKey": text, "Token": text_or_null,
              "expired": lambda v: isinstance(v, bool)}
PARAMETER = {"Type": lambda v: v in ("String", "StringList", "SecureString"),
             "Value": lambda v: isinstance(v, str)}
INSTANCE = {"group": text, "hook": text_or_null, "state": text,
            "health": lambda v: v in ("Healthy", "Unhealthy")}
CONFIG = {"region": lambda v: isinstance(v, str) and re.fullmatch(r"[a-z0-9-]+", v),
          "credentials": all_valid("credential", CREDENTIAL, ("AccessKeyId", "SecretAccessKey")),
          "parameters": lambda v: isinstance(v, dict) and all_valid(
              "parameter", PARAMETER, ("Type", "Value"))(v),
          "instances": lambda v: isinstance(v, dict) and all_valid(
              "instance", INSTANCE, ("group",))(v)}
FAULT = {"operation": lambda v: v in ("any", "GetParameter") + AS_ACTIONS,
         "code": lambda v: v in FAULT_CODES,
         "count": lambda v: type(v) is int and v >= 1}


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
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return                  # a client that went away: not worth a traceback
        super().handle_error(request, client_address)


def write_port_file(path, ports):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ports, f)
        f.write("\n")
    os.replace(tmp, path)


def main(argv=None):
    global QUIET
    p = argparse.ArgumentParser(description="AWS API stand-in (SSM, Auto Scaling) for hail's tests.")
    p.add_argument("--port-file", required=True, help='gets {"port": N, "control_port": M}')
    p.add_argument("--region", default="eu-west-1", help="the one region signatures may name")
    p.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9-]+", args.region):
        p.error("--region must look like eu-west-1")
    QUIET = args.quiet
    state = State(args.region)
    main_srv = Server("aws", MainHandler, state)
    control_srv = Server("control", ControlHandler, state)

    # Block SIGTERM/SIGINT before any thread starts (threads inherit the mask),
    # then wait for them synchronously here: no handler, no polling.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    for s in (main_srv, control_srv):
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    write_port_file(args.port_file, {"port": main_srv.server_port,
                                     "control_port": control_srv.server_port})
    log("aws stand-in on 127.0.0.1:%d, control on 127.0.0.1:%d (region %s)" % (
        main_srv.server_port, control_srv.server_port, args.region))
    signal.sigwait(stop_signals)
    for s in (main_srv, control_srv):
        s.shutdown()
        s.server_close()
    log("aws stand-in stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
