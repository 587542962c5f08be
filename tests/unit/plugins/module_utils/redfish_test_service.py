"""A small Redfish service on 127.0.0.1, strict where vendors' BMCs are and the
emulator is not: sessions only (Links.Sessions, X-Auth-Token; basic auth refused),
PATCH only with the system's current ETag in If-Match (428 without, 412 when
stale), errors in @Message.ExtendedInfo, and a boot override that is accepted but
reads back as None (as several vendors' BMCs answer)."""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SYSTEM = "/redfish/v1/Systems/System.Embedded.1"


def extended(status, message):
    return status, {"error": {"code": "Base.1.8.GeneralError", "message": "A general error has occurred.",
                              "@Message.ExtendedInfo": [{"MessageId": "Base.1.8.X", "Message": message}]}}


class Service:
    def __init__(self, user, password):
        self.user, self.password = user, password
        self.tokens = set()
        self.etag = 1
        self.log = []  # (method, path, If-Match)
        self.power = "Off"

    def system(self):
        return {"@odata.id": SYSTEM, "Id": "System.Embedded.1", "PowerState": self.power,
                "Boot": {"BootSourceOverrideTarget": "None", "BootSourceOverrideEnabled": "Disabled",
                         "BootSourceOverrideTarget@Redfish.AllowableValues": ["None", "Pxe", "Hdd"]},
                "Actions": {"#ComputerSystem.Reset": {"target": SYSTEM + "/Actions/ComputerSystem.Reset",
                                                      "ResetType@Redfish.AllowableValues": ["On", "ForceOff",
                                                                                            "PowerCycle"]}}}

    def answer(self, method, path, headers, body):
        self.log.append((method, path, headers.get("If-Match")))
        if path == "/redfish/v1/" and method == "GET":
            return 200, {"Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}}}
        if path == "/redfish/v1/SessionService/Sessions" and method == "POST":
            if (body.get("UserName"), body.get("Password")) != (self.user, self.password):
                return extended(401, "The authentication credentials included with this request are missing "
                                     "or invalid.")
            self.tokens.add("tok-%d" % len(self.tokens))
            return 201, {}, {"X-Auth-Token": "tok-%d" % (len(self.tokens) - 1),
                             "Location": "/redfish/v1/SessionService/Sessions/%d" % (len(self.tokens) - 1)}
        if headers.get("X-Auth-Token") not in self.tokens:
            return extended(401, "No session")
        if method == "DELETE" and path.startswith("/redfish/v1/SessionService/Sessions/"):
            self.tokens.discard(headers.get("X-Auth-Token"))
            return 204, None
        if path == "/redfish/v1/Systems":
            return 200, {"Members": [{"@odata.id": SYSTEM}]}
        if path == SYSTEM and method == "GET":
            return 200, self.system(), {"ETag": 'W/"%d"' % self.etag}
        if path == SYSTEM and method == "PATCH":
            if not headers.get("If-Match"):
                return extended(428, "The request requires an If-Match header.")
            if headers.get("If-Match") != 'W/"%d"' % self.etag:
                return extended(412, "The ETag supplied did not match the ETag required to change this resource.")
            self.etag += 1  # accepted; it reads back as None all the same
            return 204, None
        if path == SYSTEM + "/Actions/ComputerSystem.Reset" and method == "POST":
            if body.get("ResetType") not in ("On", "ForceOff", "PowerCycle"):
                return extended(400, "The value %s for the parameter ResetType is not in the list of acceptable "
                                     "values." % body.get("ResetType"))
            self.power = "On" if body["ResetType"] in ("On", "PowerCycle") else "Off"
            return 204, None
        return extended(404, "The resource at the URI %s was not found." % path)


@contextlib.contextmanager
def running(user, password):
    """(service, address) of a service serving on a free port of 127.0.0.1."""
    service = Service(user, password)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            out = service.answer(self.command, self.path, self.headers, body)
            status, payload, extra = (out + ({},))[:3]
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service, "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
