# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Redfish, as Ironic's redfish hardware type (sushy) drives it, with the standard
library only: the same interface as ``ipmi.Bmc`` (power_state, set_power,
boot_device, set_boot_device), so the modules drive either.

One ``Bmc`` is one ComputerSystem of one Redfish service: the system given by id
or path, or the only one under /redfish/v1/Systems. It logs in with a session
(SessionService) when the service has one, else with HTTP basic auth. Power goes
through ``ComputerSystem.Reset`` with a ResetType the system says it allows; the
boot device is the system's Boot override, PATCHed with If-Match when the system
gave an ETag. A BMC that refuses the user (401/403) fails at once; a silent or busy
one (connection errors, timeouts, 5xx) is retried with backoff, each request bounded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import re
import socket
import ssl
import time

try:  # Python 3
    from http import client as httpclient
    from urllib import error as urlerror
    from urllib import parse as urlparse
    from urllib import request as urlrequest
except ImportError:  # pragma: no cover - Python 2 managed nodes are not supported
    httpclient = urlerror = urlparse = urlrequest = None

SYSTEMS = "/redfish/v1/Systems"
# seconds one HTTP request may take (connect + answer)
REQUEST_SECONDS = 30

# The modules' power verbs (pyghmi's) -> the ResetTypes that do it, best first.
RESET_TYPES = {
    "on": ("On", "ForceOn"),
    "off": ("ForceOff",),
    "shutdown": ("GracefulShutdown",),
    "reset": ("ForceRestart", "GracefulRestart", "PowerCycle"),
}
# what each verb leaves the system in (for ``wait``)
POWER_TARGET = {"on": "on", "off": "off", "shutdown": "off", "reset": "on"}
# Redfish PowerState -> the modules' words (pyghmi's)
POWER_STATES = {"On": "on", "Off": "off", "PoweringOn": "powering on", "PoweringOff": "powering off",
                "Paused": "paused"}
# boot devices: the modules' (pyghmi's) names -> BootSourceOverrideTarget, and back
BOOT_TARGETS = {"network": "Pxe", "pxe": "Pxe", "hd": "Hdd", "disk": "Hdd", "cd": "Cd", "bios": "BiosSetup"}
DEVICE_OF_TARGET = {"Pxe": "network", "Hdd": "hd", "Cd": "cd", "BiosSetup": "bios", "None": "default"}
BOOT_MODES = ("UEFI", "Legacy")
# a system id is one path segment (what Redfish services use: letters, digits, - _ . ~ :)
SYSTEM_ID_RE = re.compile(r"^[A-Za-z0-9._~:@!$&'()*+,;=-]+\Z")
SYSTEM_PATH_RE = re.compile(r"^/redfish/v1/Systems/[A-Za-z0-9._~:@!$&'()*+,;=-]+/?\Z")
RETRY_STATUS = (500, 502, 503, 504)
BOOLEANS_TRUE = ("true", "yes", "on", "1")
BOOLEANS_FALSE = ("false", "no", "off", "0")


class RedfishError(Exception):
    def __init__(self, message, code=None):
        super(RedfishError, self).__init__(message)
        self.message = message
        self.code = code


class RedfishAuthError(RedfishError):
    """The service refused the user name or password (or the user's privileges)."""


def verify_ca_value(value):
    """``verify_ca`` as Ironic's redfish_verify_ca takes it: true (the system's CA
    store), false (no verification) or the path of a CA bundle file or directory."""
    if value is None or value is True or value is False:
        return value is not False
    if isinstance(value, str):
        if value.strip().lower() in BOOLEANS_TRUE:
            return True
        if value.strip().lower() in BOOLEANS_FALSE:
            return False
        return value
    raise ValueError("verify_ca: expected true, false or the path of a CA bundle, got %r" % (value,))


def split_address(address, port=None):
    """(scheme, host, port) of a Redfish address: a URL http(s)://host[:port], or a
    bare host (https). ``port`` applies when the URL gives none."""
    if "://" not in address:
        address = "https://" + address
    url = urlparse.urlsplit(address)
    if url.scheme not in ("http", "https"):
        raise RedfishError("Redfish address %r: the scheme must be http or https" % address)
    if url.username or url.password:
        raise RedfishError("Redfish address: give the user name and password as such, not inside the URL")
    if url.path not in ("", "/") or url.query or url.fragment:
        raise RedfishError("Redfish address %r: give only scheme://host[:port]; the system goes in system_id"
                           % address)
    if not url.hostname:
        raise RedfishError("Redfish address %r has no host" % address)
    try:
        given = url.port
    except ValueError:
        raise RedfishError("Redfish address %r: the port is not a number from 1 to 65535" % address)
    if given and port and given != port:
        raise RedfishError("Redfish address %r says port %d, the port option %d; give one" % (address, given, port))
    return url.scheme, url.hostname, given or port or (443 if url.scheme == "https" else 80)


def system_path(system_id):
    """The ComputerSystem's path for an id or a /redfish/v1/Systems/... path (None: discover)."""
    if system_id in (None, ""):
        return None
    if SYSTEM_PATH_RE.match(system_id):
        return system_id.rstrip("/")
    if SYSTEM_ID_RE.match(system_id):
        return "%s/%s" % (SYSTEMS, system_id)
    raise RedfishError("Redfish system id %r: give one path segment (the system's Id) or its path "
                       "/redfish/v1/Systems/<id>" % system_id)


def redfish_message(body):
    """The service's own words from a Redfish error body (None: none)."""
    try:
        error = json.loads(body.decode("utf-8", "replace")).get("error") or {}
    except (ValueError, AttributeError):
        text = body.decode("utf-8", "replace").strip() if isinstance(body, bytes) else ""
        # a plain-text answer (some services) is shown, an HTML page is not
        return text[:300] if text and not text.startswith("<") else None
    if not isinstance(error, dict):
        return None
    messages = [m.get("Message") for m in error.get("@Message.ExtendedInfo") or [] if isinstance(m, dict)]
    messages = [m for m in messages if m]
    return "; ".join(messages) or error.get("message") or None


class _NoRedirect(urlrequest.HTTPRedirectHandler if urlrequest else object):
    """A redirect is an answer (3xx), not followed: the credentials go to the BMC only."""

    def redirect_request(self, *args, **kwargs):
        return None


class Bmc:
    """One ComputerSystem behind one Redfish service."""

    def __init__(self, address, username, password, system_id=None, verify_ca=True, port=None, retries=3,
                 timeout=REQUEST_SECONDS, boot_mode=None, auth="auto", sleep=time.sleep):
        self.scheme, self.host, self.port = split_address(address, port)
        self.username = username
        self.password = password
        self.system_id = system_id
        self._system = system_path(system_id)
        self.verify_ca = verify_ca_value(verify_ca)
        self.retries = retries
        self.timeout = timeout
        if boot_mode is not None and boot_mode not in BOOT_MODES:
            raise RedfishError("boot mode %r: give UEFI or Legacy" % boot_mode)
        self.boot_mode = boot_mode
        self.auth = auth
        self._sleep = sleep
        self._token = self._session = None
        self._basic = auth == "basic"
        self.base = "%s://%s:%d" % (self.scheme, "[%s]" % self.host if ":" in self.host else self.host, self.port)
        self._context = self._tls() if self.scheme == "https" else None
        handlers = [_NoRedirect()]
        if self._context is not None:
            handlers.append(urlrequest.HTTPSHandler(context=self._context))
        self._opener = urlrequest.build_opener(*handlers)

    def describe(self):
        return "Redfish BMC %s" % self.base

    def _tls(self):
        if self.verify_ca is False:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if self.verify_ca is True:
            return ssl.create_default_context()
        if os.path.isdir(self.verify_ca):
            return ssl.create_default_context(capath=self.verify_ca)
        if not os.path.isfile(self.verify_ca):
            raise RedfishError("%s: verify_ca %r is neither true, false nor a CA bundle file or directory on this host"
                               % (self.describe(), self.verify_ca))
        return ssl.create_default_context(cafile=self.verify_ca)

    # -- HTTP -----------------------------------------------------------------------
    def _open(self, method, path, body=None, headers=None, auth=True):
        """One request: (status, headers, body bytes); HTTP errors are answers too."""
        url = path if path.startswith("http") else self.base + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urlrequest.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        req.add_header("OData-Version", "4.0")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        if auth and self._token:
            req.add_header("X-Auth-Token", self._token)
        elif auth and self._basic:
            pair = ("%s:%s" % (self.username, self.password)).encode("utf-8")
            req.add_header("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))
        try:
            with self._opener.open(req, timeout=self.timeout) as answer:
                return answer.status, answer.headers, answer.read()
        except urlerror.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def _login(self):
        """A session when the service root offers one (Links.Sessions), else HTTP basic
        auth on every request: sushy's order. The service root needs no login."""
        if self._token or self._basic:
            return
        sessions = None
        if self.auth != "basic":
            status, _headers, body = self._open("GET", "/redfish/v1/", auth=False)
            if status == 200:
                try:
                    root = json.loads(body.decode("utf-8"))
                    sessions = ((root.get("Links") or {}).get("Sessions") or {}).get("@odata.id")
                except (ValueError, AttributeError):
                    sessions = None
            elif status not in (401, 403):
                self._refused(status, body, "read the service root /redfish/v1/")
        if sessions is None:
            if self.auth == "session":
                raise RedfishError("%s offers no sessions (no Links.Sessions in /redfish/v1/)" % self.describe())
            self._basic = True
            return
        status, headers, body = self._open("POST", sessions, dict(UserName=self.username, Password=self.password),
                                           auth=False)
        if status in (200, 201, 204) and headers.get("X-Auth-Token"):
            self._token = headers.get("X-Auth-Token")
            self._session = headers.get("Location")
            return
        self._refused(status, body, "log in")

    def _refused(self, status, body, what):
        said = redfish_message(body)
        if status in (401, 403):
            raise RedfishAuthError("%s refused user '%s' (%s: HTTP %d%s): check the user name and password, and "
                                   "that the user may control the system"
                                   % (self.describe(), self.username, what, status, ": " + said if said else ""),
                                   code=status)
        raise RedfishError("%s: %s failed: HTTP %d%s" % (self.describe(), what, status, ": " + said if said else ""),
                           code=status)

    def request(self, what, method, path, body=None, headers=None, ok=(200, 201, 202, 204)):
        """``method`` ``path`` with retries for a silent or busy service; (status, headers,
        JSON or None). 401/403 fail at once; other refusals fail naming the status."""
        delay, last = 1.0, None
        for attempt in range(self.retries + 1):
            try:
                self._login()
                status, answer_headers, raw = self._open(method, path, body, headers)
                if status == 401 and self._token:
                    # the session expired (or the BMC restarted): one new login
                    self._token = None
                    self._login()
                    status, answer_headers, raw = self._open(method, path, body, headers)
                if status in ok:
                    try:
                        return status, answer_headers, json.loads(raw.decode("utf-8")) if raw.strip() else None
                    except ValueError:
                        raise RedfishError("%s: %s: the answer is not JSON" % (self.describe(), what))
                if status not in RETRY_STATUS:
                    self._refused(status, raw, what)
                last = "HTTP %d%s" % (status, ": " + (redfish_message(raw) or "") if redfish_message(raw) else "")
            except ssl.SSLCertVerificationError as exc:
                raise RedfishError("%s: its TLS certificate is not trusted (%s); give verify_ca the path of the CA "
                                   "bundle that signed it (or false, for a lab BMC only)"
                                   % (self.describe(), exc.verify_message or exc))
            except urlerror.URLError as exc:
                reason = exc.reason
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise RedfishError("%s: its TLS certificate is not trusted (%s); give verify_ca the path of the "
                                       "CA bundle that signed it (or false, for a lab BMC only)"
                                       % (self.describe(), reason.verify_message or reason))
                last = "no answer (%s)" % (reason,)
            except httpclient.HTTPException as exc:  # a garbled answer (BadStatusLine...)
                last = "a broken answer (%s: %s)" % (type(exc).__name__, exc)
            except (socket.timeout, OSError) as exc:
                last = "no answer within %d s (%s)" % (self.timeout, exc) if isinstance(exc, socket.timeout) \
                    else "no answer (%s)" % exc
            if attempt < self.retries:
                self._sleep(delay)
                delay = min(delay * 2, 16)
        raise RedfishError("%s: %s failed after %d attempt(s): %s (check its address, port and network)"
                           % (self.describe(), what, attempt + 1, last))

    def close(self):
        """End the session (a BMC has few session slots)."""
        if self._session:
            try:
                self._open("DELETE", self._session)
            except (urlerror.URLError, OSError):
                pass
        self._token = self._session = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the system ---------------------------------------------------------------
    def system_path(self):
        if self._system is None:
            _s, _h, systems = self.request("list the systems", "GET", SYSTEMS)
            members = [m.get("@odata.id") for m in (systems or {}).get("Members") or [] if isinstance(m, dict)]
            if len(members) != 1:
                raise RedfishError("%s holds %s; give the node's system id (one of: %s)"
                                   % (self.describe(), "no system" if not members else "%d systems" % len(members),
                                      ", ".join(m.rsplit("/", 1)[-1] for m in members) or "none"))
            self._system = members[0].rstrip("/")
        return self._system

    def system(self):
        """(the ComputerSystem resource, its ETag or None)."""
        path = self.system_path()
        try:
            _s, headers, resource = self.request("read system %s" % path, "GET", path)
        except RedfishError as exc:
            if exc.code == 404:
                raise RedfishError("%s has no system %r (%s); its systems: %s"
                                   % (self.describe(), self.system_id or path, path, self._members()), code=404)
            raise
        etag = headers.get("ETag") or (resource or {}).get("@odata.etag")
        return resource or {}, etag

    def _members(self):
        try:
            _s, _h, systems = self.request("list the systems", "GET", SYSTEMS)
        except RedfishError as exc:
            return "(could not list them: %s)" % exc.message
        members = [m.get("@odata.id", "").rsplit("/", 1)[-1] for m in (systems or {}).get("Members") or []
                   if isinstance(m, dict)]
        return ", ".join(members) or "none"

    # -- the interface of ipmi.Bmc --------------------------------------------------
    def power_state(self):
        state = self.system()[0].get("PowerState")
        return POWER_STATES.get(state, str(state).lower() if state else "unknown")

    def set_power(self, state, wait=False, timeout=300):
        if state not in RESET_TYPES:
            raise RedfishError("%s: power %s is not one of %s" % (self.describe(), state, ", ".join(RESET_TYPES)))
        resource = self.system()[0]
        action = (resource.get("Actions") or {}).get("#ComputerSystem.Reset") or {}
        target = action.get("target") or "%s/Actions/ComputerSystem.Reset" % self.system_path()
        allowed = action.get("ResetType@Redfish.AllowableValues")
        choices = [t for t in RESET_TYPES[state] if allowed is None or t in allowed]
        if not choices:
            raise RedfishError("%s: the system allows no reset type for power %s (it wants %s; it allows %s)"
                               % (self.describe(), state, " or ".join(RESET_TYPES[state]), ", ".join(allowed)))
        self.request("power %s (ResetType %s)" % (state, choices[0]), "POST", target, dict(ResetType=choices[0]))
        if wait:
            deadline = time.monotonic() + timeout
            while self.power_state() != POWER_TARGET[state]:
                if time.monotonic() > deadline:
                    raise RedfishError("%s: not %s %d s after power %s" % (self.describe(), POWER_TARGET[state],
                                                                           timeout, state))
                self._sleep(2)
        return None

    def boot_device(self):
        boot = self.system()[0].get("Boot") or {}
        target, enabled = boot.get("BootSourceOverrideTarget"), boot.get("BootSourceOverrideEnabled")
        if enabled == "Disabled" or target in (None, "", "None"):
            device = "default"
        else:
            device = DEVICE_OF_TARGET.get(target, str(target).lower())
        return dict(device=device, persistent=enabled == "Continuous", mode=boot.get("BootSourceOverrideMode"))

    def set_boot_device(self, device, persistent):
        if device not in BOOT_TARGETS:
            raise RedfishError("%s: boot device %r is not one of %s"
                               % (self.describe(), device, ", ".join(sorted(BOOT_TARGETS))))
        target = BOOT_TARGETS[device]
        resource, etag = self.system()
        boot = resource.get("Boot") or {}
        allowed = boot.get("BootSourceOverrideTarget@Redfish.AllowableValues")
        if allowed is not None and target not in allowed:
            raise RedfishError("%s: the system does not offer boot device %s (it offers %s)"
                               % (self.describe(), target, ", ".join(allowed)))
        override = dict(BootSourceOverrideTarget=target,
                        BootSourceOverrideEnabled="Continuous" if persistent else "Once")
        # only a change: sushy-tools' libvirt driver rebuilds the domain's firmware (loader
        # and NVRAM paths of its own) on any mode it is sent, and Ironic too sends it only
        # when it differs
        if self.boot_mode and boot.get("BootSourceOverrideMode") != self.boot_mode:
            override["BootSourceOverrideMode"] = self.boot_mode
        what = "set boot device %s" % target
        try:
            self.request(what, "PATCH", self.system_path(), dict(Boot=override),
                         headers={"If-Match": etag} if etag else None)
        except RedfishError as exc:
            if exc.code not in (412, 428):
                raise
            # the system changed since it was read (412), or wants If-Match (428): read its ETag again, once
            etag = self.system()[1]
            self.request(what, "PATCH", self.system_path(), dict(Boot=override),
                         headers={"If-Match": etag or "*"})
        return None


def bmc_from_params(params):
    """A Bmc from the modules' options (bmc_address, bmc_username...)."""
    return Bmc(params["bmc_address"], params["bmc_username"], params["bmc_password"],
               system_id=params.get("bmc_system_id"), verify_ca=params.get("bmc_verify_ca"),
               port=params.get("bmc_port"), retries=params.get("retries", 3),
               boot_mode=params.get("bmc_boot_mode"))
