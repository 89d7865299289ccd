#!/usr/bin/python3
"""AWS API stand-in (SSM GetParameter, Auto Scaling lifecycle calls, CloudWatch PutMetricData
and DescribeAlarms) for hail's tests.

Python 3.11 stdlib + Debian's python3-botocore (1.29), as /usr/bin/python3 on Debian 12.
botocore's own SigV4 signer checks signatures: it refuses what AWS refuses, as AWS does.

Usage:
    python3 aws.py --port-file FILE [--region REGION (default eu-west-1)]
                   [--tls-cert FILE --tls-key FILE] [--idle-close SECONDS] [--quiet]

Two servers on 127.0.0.1, both on OS-picked ports, written to FILE (atomically)
as {"port": N, "control_port": M} once both listen (plus "tls": true with TLS).
SIGTERM/SIGINT: clean exit.

TLS (--tls-cert and --tls-key, PEM, together): the main server speaks HTTPS only
(TLS 1.2 or newer, session tickets on); the control server stays plain HTTP. Every
connection the server closes ends with a TLS close_notify, then the TCP close.
--idle-close S (float seconds): a connection without a (further) request for S
seconds is closed, as nginx and AWS's front ends do (close_notify first under
TLS, not waiting for the client's); without it a connection may idle 120 s.

Main server (shared/protocols.md, "AWS APIs for fleet features"). With X-Amz-Target a
request is SSM's (JSON 1.1), else Auto Scaling's (query API). Errors are in its service's
shape: {"__type": CODE, "message": M} / <ErrorResponse><Error><Type>Sender|Receiver</Type>
<Code/><Message/></Error><RequestId/></ErrorResponse>. The first failing check answers
(SSM code, all 400 / Auto Scaling code and status): no Authorization: MissingAuthentication-
TokenException / MissingAuthenticationToken 403; garbled one, no or bad X-Amz-Date:
IncompleteSignature(Exception) 400; scope service, region or date wrong, X-Amz-Date 15+ min
off: InvalidSignatureException / SignatureDoesNotMatch 403; unknown key, X-Amz-Security-Token
missing, unexpected or wrong: UnrecognizedClientException / InvalidClientTokenId 403; key
expired: ExpiredTokenException / ExpiredToken 403; token or X-Amz-Date unsigned, SignedHeaders
not the headers there, X-Amz-Content-SHA256 not the body's, signature mismatch (botocore's
SigV4Auth over method, URL as received, body, signed headers, X-Amz-Date): InvalidSignature-
Exception / SignatureDoesNotMatch 403; then an armed fault (see /fault).
POST / X-Amz-Target: AmazonSSM.GetParameter {"Name": N, "WithDecryption": B} -> {"Parameter":
  {"Name", "Type", "Value", "Version", "LastModifiedDate" (epoch s), "ARN", "DataType"}}; a
  SecureString without WithDecryption true has a fake ciphertext (base64) as Value. Unknown
  name: 400 {"__type": "ParameterNotFound"} (no message, as SSM). Other targets: 400
  ...#UnknownOperationException. Bad JSON or Content-Type: 400 SerializationException.
POST / (application/x-www-form-urlencoded) or GET /?QUERY, Action=A&Version=2011-01-01 (else
  400 InvalidAction; missing or bad parameters: 400 ValidationError) ->
  <AResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><AResult>...</AResult>
  <ResponseMetadata><RequestId/></ResponseMetadata></AResponse>, as botocore's model has it:
  CompleteLifecycleAction  AutoScalingGroupName, LifecycleHookName, LifecycleActionResult
      CONTINUE|ABANDON, InstanceId and/or LifecycleActionToken. An instance in Pending:Wait or
      Terminating:Wait with a hook has an active action; all must match it, else "No active
      Lifecycle Action found with instance ID I" (or "with token T"). Pending:Wait ->
      InService (CONTINUE) or Terminating (ABANDON); Terminating:Wait -> Terminating:Proceed.
  RecordLifecycleActionHeartbeat  the same minus the result; the state stays.
  SetInstanceHealth  InstanceId, HealthStatus Healthy|Unhealthy, ShouldRespectGracePeriod
      true|false (optional); no Result element (no output shape).
  DescribeAutoScalingInstances  InstanceIds.member.N (none: all; unknown ones skipped);
      HealthStatus HEALTHY|UNHEALTHY, as AWS reports it there.
CloudWatch (query API, Version=2010-08-01, signing name "monitoring"; errors as Auto Scaling's
  with the namespace http://monitoring.amazonaws.com/doc/2010-08-01/, and InternalServiceError
  500, InvalidParameterValue / MissingParameter 400 as the API reference lists them):
  PutMetricData  Namespace (not "AWS/..."), MetricData.member.N.{MetricName, Value, Unit,
      Timestamp, Dimensions.member.M.{Name, Value}} (1 to 1000 metrics, at most 30 dimensions
      each); no Result element. Each accepted call is kept (GET /metrics).
  DescribeAlarms  AlarmNames.member.N (AlarmTypes.member.N taken, not needed) ->
      MetricAlarms/member/{AlarmName, AlarmArn, StateValue, StateReason,
      StateUpdatedTimestamp (when the state was set, or the alarm's Sum reached its
      threshold), ...} for the configured alarms named; an unknown name is left out (no
      error). An alarm configured as {"sum-of": METRIC, "period": S, "threshold": T} is
      evaluated at each call as CloudWatch would: ALARM when the Sum of METRIC's values put in
      the last S seconds (any namespace and dimensions) is >= T, else OK.
Bodies over 256 KiB or chunked: 413 RequestEntityTooLarge(Exception), connection closed.

Control server (no auth, JSON in and out, request bodies capped at 64 KiB; bad ones: 400):
  POST /config  any of {"region": S, "credentials": [{"AccessKeyId", "SecretAccessKey", "Token":
                S|null, "expired": bool}], "parameters": {NAME: {"Type": "String"|"StringList"|
                "SecureString", "Value": S}}, "instances": {ID: {"group": S, "hook": S|null,
                "state": S (InService), "health": "Healthy"|"Unhealthy"}},
                "alarms": {NAME: "OK"|"ALARM"|"INSUFFICIENT_DATA"|{"sum-of": METRIC, "period":
                S, "threshold": T}}}; each given replaces the old one -> as GET /config
  GET  /config  -> {"region", "credentials" (secrets shown), "parameters", "instances",
                   "faults" (armed ones)}
  POST /credentials/expire  {"AccessKeyId": K}: K is refused as expired from now on
  POST /fault   {"operation": "GetParameter"|"CompleteLifecycleAction"|...|"any", "code": C,
                "count": N (default 1)}: the next N matching requests that pass the checks
                are refused; C = throttle: ThrottlingException 400 / Throttling 400; 500:
                InternalServerError 500 / InternalFailure 500; expired: ExpiredTokenException
                400 / ExpiredToken 403; denied: AccessDeniedException 400 / AccessDenied 403
  POST /fault/clear  disarms every fault
  GET  /calls   -> {"calls": [{"service": "ssm"|"autoscaling", "operation", "params"
                   (parsed, never credentials), "auth": "ok"|CODE|null (unchecked),
                   "status", "error": CODE|null, "time"}]}; codes without any "...#" prefix
  POST /calls/reset  clears the call log
  GET  /metrics -> {"puts": [{"namespace", "time", "metrics": [{"MetricName", "Value", "Unit",
                   "Dimensions": {NAME: VALUE}}]}]}: the PutMetricData calls accepted
  POST /metrics/reset  clears them
  GET  /tls     -> {"handshakes": N, "resumed": M, "idle_closes": K}: TLS handshakes on the
                   main server, those that resumed a session, connections closed idle
  POST /tls/reset  sets the three counters to 0
  GET  /instances  -> {"instances": {ID: {"group", "hook", "state", "health",
                   "lifecycle_action_token", "events": [{"action", "time", and "result" or
                   "health", "should_respect_grace_period"}, ...]}}}
The request log on stderr (a line per request, unless --quiet) shows key ids, never
secrets, tokens, signatures or parameter values.
"""

import argparse
import base64
import calendar
import hashlib
import hmac
import io
import json
import os
import re
import signal
import socket
import ssl
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
TLS_HANDSHAKE_TIMEOUT = 30        # seconds a client may take over its TLS handshake
MAX_SKEW = 15 * 60                # AWS: X-Amz-Date at most 15 minutes off
ACCOUNT_ID = "123456789012"
AS_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
CW_NS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
QUERY_NS = {"autoscaling": AS_NS, "monitoring": CW_NS}
# CloudWatch's own codes where they differ from Auto Scaling's (API reference)
CW_CODES = {"500": ("InternalServiceError", 500), "validation": ("InvalidParameterValue", 400)}
SSM_JSON = "application/x-amz-json-1.1"
CORAL = "com.amazon.coral.service#"   # framework errors may carry it; clients cut to '#'
AMZ_DATE = "%Y%m%dT%H%M%SZ"
FAULT_CODES = ("throttle", "500", "expired", "denied")

# kind -> (SSM __type, status, Auto Scaling Code, status): AWS Common Errors pages,
# botocore 1.29 models, errors the services were seen to send.
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
}
MSG_SIGNATURE = ("The request signature we calculated does not match the signature you "
                 "provided. Check your AWS Secret Access Key and signing method. Consult "
                 "the service documentation for details.")
MSG_EXPIRED = "The security token included in the request is expired"
FAULT_MESSAGES = {"throttle": "Rate exceeded", "500": "An internal error occurred.",
                  "expired": MSG_EXPIRED}

QUIET = False


def log(line):
    if not QUIET:
        print(line, file=sys.stderr, flush=True)


class ApiError(Exception):
    """A refusal: kind is an ERRORS key or a (code, status) pair; reason goes to the log."""

    def __init__(self, kind, message=None, reason=None):
        super().__init__(message)
        self.kind, self.message, self.reason = kind, message, reason

    def code(self, service):
        if isinstance(self.kind, tuple):
            return self.kind
        if service == "monitoring" and self.kind in CW_CODES:
            return CW_CODES[self.kind]
        return ERRORS[self.kind][:2] if service == "ssm" else ERRORS[self.kind][2:]


def amz(t):
    return time.strftime(AMZ_DATE, time.gmtime(t))


# State: configuration, faults, call log. One RLock, flat critical sections only.

class State:
    def __init__(self, region):
        self.lock = threading.RLock()
        self.region = region
        self.credentials = {}     # AccessKeyId -> {"SecretAccessKey", "Token", "expired"}
        self.parameters = {}      # name -> {"Type", "Value", "Version", "LastModifiedDate"}
        self.instances = {}       # id -> {"group", "hook", "state", "health", token, events}
        self.alarms = {}          # name -> state, or {"sum-of", "period", "threshold"}
        self.alarm_since = {}     # name -> when a state set by the test was set
        self.puts = []            # accepted PutMetricData calls
        self.faults = []          # [{"operation", "code", "count"}]
        self.calls = []
        self.tls = tls_counters()  # GET /tls

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
            if "alarms" in cfg:
                now = time.time()
                # a state set by the test changes (and is dated) only when it differs
                self.alarm_since = {n: self.alarm_since.get(n, now)
                                    if self.alarms.get(n) == a else now
                                    for n, a in cfg["alarms"].items()}
                self.alarms = dict(cfg["alarms"])
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
                    "alarms": dict(self.alarms),
                    "faults": [dict(f) for f in self.faults if f["count"] > 0]}

    def take_fault(self, operation):
        with self.lock:
            for f in self.faults:
                if f["count"] > 0 and f["operation"] in ("any", operation):
                    f["count"] -= 1
                    return f["code"]
            return None


def tls_counters():
    return {"handshakes": 0, "resumed": 0, "idle_closes": 0}


def count(state, name):
    with state.lock:
        state.tls[name] += 1


def active_action(inst):
    return bool(inst["hook"]) and inst["state"] in ("Pending:Wait", "Terminating:Wait")


# SigV4 verification with botocore's own signer

class Verifier(SigV4Auth):
    """botocore's SigV4Auth, except that it keeps User-Agent, Expect and X-Amzn-Trace-Id
    when signed: botocore never signs them, but curl signs every header it is given
    (CURLOPT_HTTPHEADER) and AWS checks whatever SignedHeaders lists."""

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        for name, value in request.headers.items():
            if name.lower() in SIGNED_HEADERS_BLACKLIST:
                headers[name.lower()] = value
        return headers


def parse_authorization(h):
    """[akid, date, region, service, terminator, signed_headers, signature, amz_date, time]"""
    auths = h.get_all("Authorization") or []
    if not auths:
        raise ApiError("missing_auth", "Request is missing Authentication Token")
    algorithm, _, rest = auths[-1].strip().partition(" ")
    parts = dict(p.strip().partition("=")[::2] for p in rest.split(","))
    missing = [k for k in ("Credential", "Signature", "SignedHeaders") if not parts.get(k)]
    scope = parts.get("Credential", "").split("/")
    if len(auths) > 1 or algorithm != "AWS4-HMAC-SHA256" or missing or len(scope) != 5:
        raise ApiError("incomplete", " ".join(
            "Authorization header requires '%s' parameter." % k for k in missing)
            or "Authorization: AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/SERVICE/"
            "aws4_request, SignedHeaders=..., Signature=...")
    dates = h.get_all("X-Amz-Date") or [""]
    try:
        when = calendar.timegm(time.strptime(dates[0], AMZ_DATE))
    except ValueError:
        when = None
    if len(dates) != 1 or when is None or not re.fullmatch(r"[0-9]{8}T[0-9]{6}Z", dates[0]):
        raise ApiError("incomplete", "Authorization header requires existence of an "
                       "'X-Amz-Date' header in ISO-8601 basic format, got '%s'" % dates[0][:40])
    return scope + [parts["SignedHeaders"], parts["Signature"], dates[0], when]


def authenticate(handler, service, body, state):
    """The access key id of a correctly signed request; ApiError otherwise."""
    h = handler.headers
    akid, date, region, scope_service, terminator, signed, signature, amz_date, when = \
        parse_authorization(h)
    with state.lock:
        good_region = state.region
        cred = dict(state.credentials.get(akid) or {}) or None
    now = time.time()
    for wrong, message in (                   # AWS's wording for each scope error
            (terminator != "aws4_request", "Credential should be scoped with a valid "
             "terminator: 'aws4_request', not '%s'. " % terminator[:40]),
            (scope_service != service, "Credential should be scoped to correct service: "
             "'%s'. " % service),
            (region != good_region, "Credential should be scoped to a valid region, not "
             "'%s'. " % region[:40]),
            (date != amz_date[:8], "Date in Credential scope does not match YYYYMMDD from "
             "ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'."
             % (date[:40], amz_date[:8], amz_date)),
            (when < now - MAX_SKEW, "Signature expired: %s is now earlier than %s (%s - 15 "
             "min.)" % (amz_date, amz(now - MAX_SKEW), amz(now))),
            (when > now + MAX_SKEW, "Signature not yet current: %s is still later than %s "
             "(%s + 15 min.)" % (amz_date, amz(now + MAX_SKEW), amz(now)))):
        if wrong:
            raise ApiError("signature", message)
    tokens = h.get_all("X-Amz-Security-Token") or []
    token = tokens[0].strip() if len(tokens) == 1 else None
    if cred is None or len(tokens) > 1 or (cred["Token"] or None) != token:
        raise ApiError("unknown_key", "The security token included in the request is invalid.",
                       reason="unknown key" if cred is None else "token missing or wrong")
    if cred["expired"]:
        raise ApiError("expired", MSG_EXPIRED)

    names = signed.split(";")
    for wrong, why in (
            (token is not None and "x-amz-security-token" not in names,
             "X-Amz-Security-Token is not among the signed headers"),
            ("x-amz-date" not in names, "X-Amz-Date is not among the signed headers"),
            # botocore takes this header's word for the body hash: check it ourselves.
            (h.get_all("X-Amz-Content-SHA256") not in (None, [hashlib.sha256(body).hexdigest()]),
             "X-Amz-Content-SHA256 is not the body's SHA-256")):
        if wrong:
            raise ApiError("signature", MSG_SIGNATURE, reason=why)
    # Rebuild the request as received: method, URL with the query exactly as sent, body
    # bytes and only the signed headers (every value of a repeated one).
    url = "%s://127.0.0.1:%d%s" % (handler.server.scheme, handler.server.server_port,
                                   handler.path)
    request = AWSRequest(method=handler.command, url=url, data=body)
    for name in names:
        for value in h.get_all(name) or []:
            request.headers[name] = value
    signer = Verifier(Credentials(akid, cred["SecretAccessKey"], token), service, region)
    # Differs when a signed header is absent, unsorted or upper-case, or host is unsigned.
    if signer.signed_headers(signer.headers_to_sign(request)) != signed:
        raise ApiError("signature", MSG_SIGNATURE, reason="SignedHeaders is not the sorted "
                       "lower-case list of headers present (host included)")
    request.context["timestamp"] = amz_date      # what add_auth takes from its clock
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise ApiError("signature", MSG_SIGNATURE, reason="signature mismatch")
    return akid


# SSM

def get_parameter(state, params):
    if not isinstance(params, dict) or not isinstance(params.get("Name", ""), str) \
            or not isinstance(params.get("WithDecryption", False), bool):
        raise ApiError("serialization", "Want {\"Name\": string, \"WithDecryption\": boolean}")
    name = params.get("Name")
    if name is None:
        raise ApiError("validation", "1 validation error detected: Value null at 'name' "
                       "failed to satisfy constraint: Member must not be null")
    with state.lock:
        p, region = dict(state.parameters.get(name) or {}), state.region
    if not p:
        raise ApiError(("ParameterNotFound", 400))
    value = p["Value"]
    if p["Type"] == "SecureString" and not params.get("WithDecryption"):
        # What AWS shows without decryption: base64 of a KMS blob ("AQICAH..."); this one
        # is made from a hash, revealing nothing of the value.
        digest = hashlib.sha256(("hail-stand-in\0%s\0%s" % (name, value)).encode()).digest()
        value = base64.b64encode(b"\x01\x02\x02\x00\x78" + digest + digest[::-1]).decode()
    arn = "arn:aws:ssm:%s:%s:parameter%s%s" % (region, ACCOUNT_ID,
                                              "" if name.startswith("/") else "/", name)
    return {"Parameter": {"Name": name, "Type": p["Type"], "Value": value,
                          "Version": p["Version"], "LastModifiedDate": p["LastModifiedDate"],
                          "ARN": arn, "DataType": "text"}}


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
    iid, token = params.get("InstanceId"), params.get("LifecycleActionToken")
    if complete and result not in ("CONTINUE", "ABANDON") or not iid and not token:
        raise ApiError("validation", "LifecycleActionResult must be CONTINUE or ABANDON; "
                       "LifecycleActionToken or InstanceId must be specified")
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
    if health not in ("Healthy", "Unhealthy") or grace not in (None, "true", "false"):
        raise ApiError("validation", "HealthStatus must be Healthy or Unhealthy, "
                       "ShouldRespectGracePeriod true or false")
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
    with state.lock:
        chosen = [(i, dict(state.instances[i])) for i in (ids or sorted(state.instances))
                  if i in state.instances]
        az = state.region + "a"
    return "<AutoScalingInstances>%s</AutoScalingInstances>" % "".join(
        "<member><InstanceId>%s</InstanceId><InstanceType>t3.micro</InstanceType>"
        "<AutoScalingGroupName>%s</AutoScalingGroupName><AvailabilityZone>%s"
        "</AvailabilityZone><LifecycleState>%s</LifecycleState><HealthStatus>%s"
        "</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>"
        % tuple(escape(s) for s in (i, v["group"], az, v["state"], v["health"].upper()))
        for i, v in chosen)


# CloudWatch

def members(params, prefix):
    """[params[prefix.1], params[prefix.2], ...] up to the first gap."""
    out = []
    while "%s.%d" % (prefix, len(out) + 1) in params:
        out.append(params["%s.%d" % (prefix, len(out) + 1)])
    return out


def put_metric_data(state, params):
    ns = params.get("Namespace")
    if not ns:
        raise ApiError(("MissingParameter", 400), "The parameter Namespace is required.")
    if ns.startswith("AWS/") or len(ns) > 255:
        raise ApiError("validation", "The value %s for parameter Namespace is invalid." % ns[:60])
    metrics = []
    for n in range(1, 1002):
        m = "MetricData.member.%d." % n
        if m + "MetricName" not in params:
            break
        try:
            value = float(params.get(m + "Value", "x"))
        except ValueError:
            raise ApiError("validation", "The value for parameter MetricData.member.%d.Value "
                           "is not a number." % n)
        dims = {}
        for d in range(1, 32):
            dn = params.get("%sDimensions.member.%d.Name" % (m, d))
            if dn is None:
                break
            dv = params.get("%sDimensions.member.%d.Value" % (m, d))
            if not dn or not dv or len(dn) > 255 or len(dv) > 1024:
                raise ApiError("validation", "The dimension %d of MetricData.member.%d is "
                               "invalid." % (d, n))
            dims[dn] = dv
        if len(dims) > 30:
            raise ApiError("validation", "At most 30 dimensions per metric.")
        metrics.append({"MetricName": params[m + "MetricName"], "Value": value,
                        "Unit": params.get(m + "Unit"), "Dimensions": dims})
    if not metrics:
        raise ApiError(("MissingParameter", 400), "The parameter MetricData is required.")
    if len(metrics) > 1000:
        raise ApiError("validation", "At most 1000 metrics per PutMetricData call.")
    with state.lock:
        state.puts.append({"namespace": ns, "time": time.time(), "metrics": metrics})
    return None


def alarm_state(state, name, now):
    """(state, reason, since): since is when it went into the state: for an
    alarm over the metrics, the first put that made the Sum reach the threshold
    (ALARM), or the moment the last one left the period (OK)."""
    spec = state.alarms[name]
    if isinstance(spec, str):
        return spec, "set by the test", state.alarm_since.get(name, now)
    window = [(p["time"], m["Value"]) for p in state.puts if p["time"] >= now - spec["period"]
              for m in p["metrics"] if m["MetricName"] == spec["sum-of"] and m["Value"]]
    total = sum(v for _, v in window)
    reason = "Sum of %s over the last %ss is %g" % (spec["sum-of"], spec["period"], total)
    if total < spec["threshold"]:
        past = [p["time"] for p in state.puts for m in p["metrics"]
                if m["MetricName"] == spec["sum-of"] and m["Value"]]
        return "OK", reason, max(past) + spec["period"] if past else now
    running = 0
    for t, v in sorted(window):
        running += v
        if running >= spec["threshold"]:
            return "ALARM", reason, t
    return "ALARM", reason, now


def iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int(t * 1000 % 1000)


def describe_alarms(state, params):
    names = members(params, "AlarmNames.member")
    if len(names) > 100:
        raise ApiError("validation", "At most 100 alarm names.")
    now = time.time()
    out = []
    with state.lock:
        for name in names:
            if name not in state.alarms:
                continue
            value, reason, since = alarm_state(state, name, now)
            out.append("<member><AlarmName>%s</AlarmName><AlarmArn>arn:aws:cloudwatch:%s:%s:"
                       "alarm:%s</AlarmArn><StateValue>%s</StateValue><StateReason>%s"
                       "</StateReason><StateUpdatedTimestamp>%s</StateUpdatedTimestamp>"
                       "<Namespace>hail</Namespace><MetricName>ActivationFailures</MetricName>"
                       "</member>" % (escape(name), state.region, ACCOUNT_ID, escape(name),
                                      value, escape(reason), iso_ms(since)))
    return "<MetricAlarms>%s</MetricAlarms><CompositeAlarms/>" % "".join(out)


CW_ACTIONS = {"PutMetricData": put_metric_data, "DescribeAlarms": describe_alarms}

AS_ACTIONS = {
    "CompleteLifecycleAction": lambda s, p: lifecycle_action(s, p, True),
    "RecordLifecycleActionHeartbeat": lambda s, p: lifecycle_action(s, p, False),
    "SetInstanceHealth": set_instance_health,
    "DescribeAutoScalingInstances": describe_instances,
}


# Answers: (status, content type, body bytes)

def as_answer(action, result, request_id, ns=AS_NS):
    inner = "" if result is None else (
        "<{0}Result>{1}</{0}Result>".format(action, result) if result else "<%sResult/>" % action)
    return 200, "text/xml", (
        '<{0}Response xmlns="{1}">{2}<ResponseMetadata><RequestId>{3}</RequestId>'
        '</ResponseMetadata></{0}Response>\n'.format(action, ns, inner, request_id)).encode()


def error_answer(service, code, status, message, request_id):
    if service == "ssm":
        # botocore's SSM model: InternalServerError says "Message"; coral's AccessDenied too.
        key = "Message" if code in ("InternalServerError", "AccessDeniedException") else "message"
        return status, SSM_JSON, json.dumps({"__type": code} if message is None else
                                            {"__type": code, key: message}).encode()
    return status, "text/xml", (
        '<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s'
        '</Message></Error><RequestId>%s</RequestId></ErrorResponse>\n' % (
            QUERY_NS.get(service, AS_NS), "Receiver" if status >= 500 else "Sender", code,
            escape(message or ""),
            request_id)).encode()


def fault_error(kind, service, operation, akid):
    if kind != "denied":
        return ApiError(kind, FAULT_MESSAGES[kind])
    return ApiError("denied", "User: arn:aws:sts::%s:assumed-role/hail-stand-in/%s is not "
                    "authorized to perform: %s:%s because no identity-based policy allows the "
                    "%s:%s action" % (ACCOUNT_ID, akid, service, operation, service, operation))


# Handlers

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive: every response has Content-Length
    wbufsize = -1                     # one write per response (testing.md: Nagle)
    timeout = IDLE_TIMEOUT            # bounded idle keep-alive and stalled I/O

    def setup(self):
        """The TLS handshake (main server with --tls-cert), in this connection's
        thread, before the base class makes its file objects of the socket."""
        self.tls_failed = False
        ctx = self.server.tls_context
        if ctx is not None:
            self.request.settimeout(TLS_HANDSHAKE_TIMEOUT)
            try:
                self.request = ctx.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                log("%s TLS handshake failed: %s" % (self.server.name, e))
                self.tls_failed = True    # wrap_socket closed the socket
                self.rfile, self.wfile = io.BytesIO(), io.BytesIO()
                return
            count(self.server.state, "handshakes")
            if self.request.session_reused:
                count(self.server.state, "resumed")
        super().setup()               # a body past the buffer takes a 2nd write: no Nagle
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
        """False when the connection is to be closed: idle for --idle-close seconds
        (counted) or failed. Peeks at the next request under that timeout."""
        idle = self.server.idle_close
        if idle is None:
            return True
        try:
            self.connection.settimeout(idle)
            self.rfile.peek(1)            # b"" at EOF: the base class ends then
            self.connection.settimeout(self.timeout)
            return True
        except TimeoutError:
            count(self.server.state, "idle_closes")
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

    def read_body(self, limit):
        """The body, or None (connection to be closed) when chunked or over limit."""
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
        for k, v in [("Content-Type", ctype)] + list(headers) + (
                [("Connection", "close")] if self.close_connection else []):
            self.send_header(k, v)
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
                raise ApiError("too_large", "Send a Content-Length body (not chunked) of "
                               "at most %d bytes" % MAIN_BODY_MAX)
            operation, params = self.parse(service, target, body)
            if service != "ssm" and params.get("Version") == "2010-08-01":
                service = call["service"] = "monitoring"      # CloudWatch's own host in AWS
            call["operation"] = operation
            call["params"] = {k: v for k, v in params.items()    # never credentials
                              if k not in ("Action", "Version")
                              and not k.lower().startswith("x-amz-")} \
                if isinstance(params, dict) else {"_unparsed": True}
            try:
                akid = authenticate(self, service, body, state)
                call["auth"] = "ok"
            except ApiError as e:
                call["auth"] = e.code(service)[0].rsplit("#", 1)[-1]
                raise
            fault = state.take_fault(operation)
            if fault is not None:
                raise fault_error(fault, service, operation, akid)
            answer = self.execute(service, operation, params, request_id)
        except ApiError as e:
            code, status = e.code(service)
            call["error"] = code.rsplit("#", 1)[-1]
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
            return target.removeprefix("AmazonSSM.")[:100], params
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if self.command == "POST" and ctype == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return params.get("Action", "")[:100] or None, params

    def execute(self, service, operation, params, request_id):
        if service == "ssm":
            if self.command != "POST" or self.headers["X-Amz-Target"] != "AmazonSSM.GetParameter":
                raise ApiError("unknown_op")
            if self.headers.get("Content-Type") != SSM_JSON:
                raise ApiError("serialization", "Content-Type must be "
                               "application/x-amz-json-1.1")
            return 200, SSM_JSON, json.dumps(get_parameter(self.server.state, params)).encode()
        if service == "monitoring":
            if operation not in CW_ACTIONS:
                raise ApiError("unknown_op", "Could not find operation %s for version "
                               "2010-08-01" % (operation or ""))
            return as_answer(operation, CW_ACTIONS[operation](self.server.state, params),
                             request_id, CW_NS)
        if operation not in AS_ACTIONS or params.get("Version") != "2011-01-01":
            raise ApiError("unknown_op", "Could not find operation %s for version %s" % (
                operation or "", params.get("Version", "NO_VERSION_SPECIFIED")[:40]))
        return as_answer(operation, AS_ACTIONS[operation](self.server.state, params),
                         request_id)


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
        if method == "GET" and path in ("/config", "/calls", "/instances", "/tls", "/metrics"):
            with state.lock:
                return 200, {"/config": state.config,
                             "/tls": lambda: dict(state.tls),
                             "/metrics": lambda: {"puts": [dict(p) for p in state.puts]},
                             "/calls": lambda: {"calls": [dict(c) for c in state.calls]},
                             "/instances": lambda: {"instances": {
                                 i: dict(v, events=[dict(e) for e in v["events"]])
                                 for i, v in state.instances.items()}}}[path]()
        if method != "POST" or path not in ("/config", "/credentials/expire", "/fault",
                                            "/fault/clear", "/calls/reset", "/tls/reset",
                                            "/metrics/reset"):
            return 404, {"error": "no such control endpoint: %s %s" % (method, path)}
        try:
            obj = json.loads(body or b"{}")
        except ValueError as e:
            raise BadRequest("body is not JSON: %s" % e)
        if path == "/config":
            return 200, state.configure(valid("config", obj, CONFIG))
        with state.lock:
            if path == "/credentials/expire":
                if not isinstance(obj, dict) or obj.get("AccessKeyId") not in state.credentials:
                    raise BadRequest("want {\"AccessKeyId\": a configured key id}")
                state.credentials[obj["AccessKeyId"]]["expired"] = True
            elif path == "/fault":
                state.faults.append(dict({"count": 1}, **valid("fault", obj, FAULT,
                                                                ("operation", "code"))))
            elif path == "/fault/clear":
                state.faults = []
            elif path == "/tls/reset":
                state.tls = tls_counters()
            elif path == "/metrics/reset":
                state.puts = []
            else:
                state.calls = []
        return 200, {"ok": True}


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


def each(kind, spec, required, container):
    """A test for a container (list, or name -> object map) of objects passing spec."""
    return lambda v: isinstance(v, container) and all(
        valid("%s %s" % (kind, k), x, spec, required)
        for k, x in (v.items() if container is dict else enumerate(v)))


CONFIG = {
    "region": lambda v: isinstance(v, str) and re.fullmatch(r"[a-z0-9-]+", v),
    "credentials": each("credential", {
        "AccessKeyId": lambda v: text(v) and not re.search(r"[/,\s]", v),
        "SecretAccessKey": text, "Token": lambda v: v is None or text(v),
        "expired": lambda v: isinstance(v, bool)}, ("AccessKeyId", "SecretAccessKey"), list),
    "parameters": each("parameter", {
        "Type": lambda v: v in ("String", "StringList", "SecureString"),
        "Value": lambda v: isinstance(v, str)}, ("Type", "Value"), dict),
    "instances": each("instance", {
        "group": text, "hook": lambda v: v is None or text(v), "state": text,
        "health": lambda v: v in ("Healthy", "Unhealthy")}, ("group",), dict),
    "alarms": lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and 0 < len(k) <= 255 and (
            a in ("OK", "ALARM", "INSUFFICIENT_DATA") or (
                isinstance(a, dict) and set(a) == {"sum-of", "period", "threshold"}
                and text(a["sum-of"]) and isinstance(a["period"], (int, float))
                and a["period"] > 0 and isinstance(a["threshold"], (int, float))))
        for k, a in v.items()),
}
FAULT = {"operation": lambda v: v == "any" or v == "GetParameter" or v in AS_ACTIONS
         or v in CW_ACTIONS,
         "code": lambda v: v in FAULT_CODES, "count": lambda v: type(v) is int and v >= 1}


# Servers and main

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, name, handler, state, tls_context=None, idle_close=None):
        self.name = name
        self.state = state
        self.tls_context = tls_context    # an ssl.SSLContext: this server is HTTPS
        self.scheme = "https" if tls_context else "http"
        self.idle_close = idle_close      # seconds, or None
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            return                  # a client that went away: not worth a traceback
        super().handle_error(request, client_address)


def server_tls_context(cert, key):
    """TLS 1.2 or newer with cert (PEM chain) and key; session tickets on."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.options &= ~ssl.OP_NO_TICKET
    return ctx


def close_tls(sock):
    """A TLS close_notify, then the TCP close, without waiting for the client's
    close_notify: non-blocking, the first SSL_shutdown sends ours and the second,
    which would wait for the client's, gives up at once (SSLWantReadError)."""
    if sock.fileno() < 0:
        return
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
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(ports) + "\n")
    os.replace(path + ".tmp", path)


def main(argv=None):
    global QUIET
    p = argparse.ArgumentParser(description="AWS API stand-in for hail's tests.")
    p.add_argument("--port-file", required=True, help='gets {"port": N, "control_port": M}')
    p.add_argument("--region", default="eu-west-1", help="the one region signatures may name")
    p.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (chain): serve HTTPS")
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    p.add_argument("--idle-close", metavar="SECONDS", type=float,
                   help="close a connection idle this long (with close_notify under TLS)")
    p.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9-]+", args.region):
        p.error("--region must look like eu-west-1")
    if (args.tls_cert is None) != (args.tls_key is None):
        p.error("--tls-cert and --tls-key go together")
    if args.idle_close is not None and not 0 < args.idle_close <= IDLE_TIMEOUT:
        p.error("--idle-close must be above 0 and at most %d seconds" % IDLE_TIMEOUT)
    QUIET = args.quiet
    state = State(args.region)
    tls = server_tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    main_srv = Server("aws", MainHandler, state, tls, args.idle_close)
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
    log("aws stand-in on 127.0.0.1:%d (%s), control on 127.0.0.1:%d (region %s)" % (
        main_srv.server_port, main_srv.scheme, control_srv.server_port, args.region))
    signal.sigwait(stop_signals)
    for s in (main_srv, control_srv):
        s.shutdown()
        s.server_close()
    log("aws stand-in stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
