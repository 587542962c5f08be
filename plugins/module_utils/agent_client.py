# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Client for the Stackwright node agent (HTTP/JSON on a Unix socket), and the
glue every agent-backed module shares: one request per module run, check mode
mapped to the agent's ``dry_run``, the agent's own ``changed`` and diff returned."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket

try:
    from http.client import HTTPConnection
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover - Python 2 is not a target
    HTTPConnection = object

DEFAULT_SOCKET = "/run/stackwright/agent.sock"

AGENT_ARGUMENT_SPEC = dict(
    agent_socket=dict(type="path", default=DEFAULT_SOCKET),
    agent_timeout=dict(type="int", default=300),
)


class AgentClientError(Exception):
    def __init__(self, message, status=None, code=None, field=None):
        super(AgentClientError, self).__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field

    def to_dict(self):
        return dict(msg=self.message, status=self.status, code=self.code, field=self.field)


class _UnixConnection(HTTPConnection):
    def __init__(self, path, timeout):
        HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class AgentClient:
    def __init__(self, socket_path=DEFAULT_SOCKET, timeout=300):
        self.socket_path = socket_path
        self.timeout = timeout

    def request(self, method, path, body=None, query=None):
        if not os.path.exists(self.socket_path):
            raise AgentClientError(
                "agent_socket: %s does not exist; is the agent running on this node? "
                "(the stackwright.cloud.agent role installs and starts it)" % self.socket_path,
                code="no_socket", field="agent_socket")
        url = path + ("?" + urlencode(query) if query else "")
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, url, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except socket.timeout:
            raise AgentClientError("the agent did not answer %s %s within %ss" % (method, url, self.timeout),
                                   code="timeout")
        except (OSError, IOError) as exc:
            raise AgentClientError("cannot reach the agent on %s: %s" % (self.socket_path, exc),
                                   code="unreachable", field="agent_socket")
        finally:
            conn.close()
        try:
            payload = json.loads(raw.decode() or "null")
        except ValueError:
            raise AgentClientError("the agent answered %d with a body that is not JSON" % resp.status,
                                   status=resp.status, code="bad_response")
        if resp.status >= 400:
            err = (payload or {}).get("error", {})
            raise AgentClientError(err.get("message", "agent error %d" % resp.status), status=resp.status,
                                   code=err.get("code"), field=err.get("field"))
        return payload

    def get(self, path, query=None):
        return self.request("GET", path, query=query)

    def find(self, path, query=None):
        """GET that returns None for a resource that does not exist."""
        try:
            return self.get(path, query)
        except AgentClientError as exc:
            if exc.status == 404 and exc.code == "not_found":
                return None
            raise

    def put(self, path, body):
        return self.request("PUT", path, body=body)


def resource_path(kind, *ident):
    return "/v1/%s/%s" % (kind, "/".join(quote(part, safe="") for part in ident))


def converge(module, kind, ident, body):
    """Send one declarative request for the module and exit with its result.

    ``body`` holds the wanted state; options the user left unset are dropped, so
    the agent leaves those properties as they are.
    """
    client = AgentClient(module.params["agent_socket"], module.params["agent_timeout"])
    body = dict((k, v) for k, v in body.items() if v is not None)
    body["dry_run"] = module.check_mode
    try:
        answer = client.put(resource_path(kind, *ident), body)
    except AgentClientError as exc:
        module.fail_json(**exc.to_dict())
    result = dict(changed=answer["changed"], resource=answer["resource"])
    if module._diff:
        result["diff"] = dict(before=answer["diff"]["before"] or {}, after=answer["diff"]["after"] or {})
    module.exit_json(**result)
