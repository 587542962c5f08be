"""A stand-in for the few Keystone, Nova, Placement and Neutron API calls that
keystone_service and compute_host make, served over real HTTP on 127.0.0.1.

Why a stand-in: the unit tests have no OpenStack (a Keystone alone needs its packages
and a database; Nova a hypervisor) and must not depend on the lab. The modules still
run as Ansible runs them, with the real openstacksdk and keystoneauth doing version
discovery, token login, the catalog, microversions and pagination over the wire; only
the cloud's side is small. The Molecule overcloud scenario runs both modules against
the real services.

State is in plain dicts (``cloud.services``, ``cloud.users``, ...) that tests read and
arrange; ``cloud.calls`` lists every changing request (method, path) so a test can
assert that check mode made none.
"""

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

NOVA_MAX_MICROVERSION = "2.96"


def new_id():
    return uuid.uuid4().hex


class Cloud:
    """What the stand-in knows. ``admin_password`` logs in user admin on project admin."""

    def __init__(self, admin_password="secret"):
        self.tokens = set()
        self.calls = []
        self.lock = threading.Lock()
        # Keystone
        self.projects = {}
        self.users = {}
        self.passwords = {}
        self.roles = {}
        self.assignments = set()  # (user_id, project_id, role_id)
        self.services = {}
        self.endpoints = {}
        admin_project = self.add("projects", name="admin", domain_id="default", enabled=True)
        admin = self.add("users", name="admin", domain_id="default", enabled=True)
        self.passwords[admin["id"]] = admin_password
        for name in ("admin", "member", "reader"):
            role = self.add("roles", name=name)
            if name == "admin":
                self.assignments.add((admin["id"], admin_project["id"], role["id"]))
        # Nova, Placement, Neutron
        self.compute_services = {}
        self.servers = {}
        self.hypervisors = {}
        self.providers = {}
        self.agents = {}
        # Nova deletes a compute host's resource provider with its service; False plays a
        # Nova that left it behind
        self.nova_deletes_providers = True

    def add(self, kind, **fields):
        item = dict(fields, id=fields.get("id") or new_id())
        getattr(self, kind)[item["id"]] = item
        return item

    def add_compute_host(self, host, status="enabled", state="up", disabled_reason=None, hypervisor=None):
        service = self.add("compute_services", binary="nova-compute", host=host, status=status, state=state,
                           disabled_reason=disabled_reason, zone="nova", forced_down=False, updated_at=None)
        name = hypervisor or host
        self.hypervisors[service["id"]] = dict(id=new_id(), hypervisor_hostname=name,
                                               service=dict(host=host, id=service["id"]))
        self.add("providers", uuid=new_id(), name=name, generation=1)
        return service

    def add_server(self, name, host, status="ACTIVE"):
        return self.add("servers", name=name, host=host, status=status, task_state=None)

    def add_agent(self, host, agent_type="OVN Controller agent"):
        return self.add("agents", host=host, agent_type=agent_type, binary="ovn-controller", alive=True,
                        admin_state_up=True)

    def user_named(self, name):
        return next((u for u in self.users.values() if u["name"] == name), None)

    def changes(self):
        return [c for c in self.calls if c[0] != "GET"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    # -- plumbing ---------------------------------------------------------------------
    @property
    def cloud(self):
        return self.server.cloud

    @property
    def base(self):
        return self.server.url

    def send(self, status, body=None, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null") if length else None

    def handle_any(self, method):
        url = urlparse(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self.body()
        with self.cloud.lock:
            self.cloud.calls.append((method, path))
            public = r"^/(compute|placement|network)(/v2\.1|/v2\.0)?$"
            if not (path == "/" or path in ("/v3", "/v3/auth/tokens") or re.match(public, path)):
                if self.headers.get("X-Auth-Token") not in self.cloud.tokens:
                    return self.send(401, {"error": {"code": 401, "message": "The request you have made requires "
                                                     "authentication."}})
            for pattern, handler in ROUTES:
                m = re.match("^%s$" % pattern, "%s %s" % (method, path))
                if m:
                    return handler(self, query, body, *m.groups())
        self.send(404, {"error": {"code": 404, "message": "%s %s: not in the stand-in" % (method, path)}})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")

    # -- discovery --------------------------------------------------------------------
    def keystone_versions(self, query, body):
        self.send(300, {"versions": {"values": [self.keystone_v3()]}})

    def keystone_version(self, query, body):
        self.send(200, {"version": self.keystone_v3()})

    def keystone_v3(self):
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": self.base + "/v3/"}],
                "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}

    def compute_versions(self, query, body, version):
        v = {"id": "v2.1", "status": "CURRENT", "version": NOVA_MAX_MICROVERSION, "min_version": "2.1",
             "updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": self.base + "/compute/v2.1/"}]}
        self.send(200, {"version": v} if version else {"versions": [v]})

    def placement_versions(self, query, body):
        self.send(200, {"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0", "status": "CURRENT",
                                      "links": [{"rel": "self", "href": ""}]}]})

    def network_versions(self, query, body, version):
        v = {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": self.base + "/network/v2.0/"}]}
        self.send(200, {"version": v} if version else {"versions": [v]})

    # -- Keystone -----------------------------------------------------------------------
    def catalog(self):
        urls = {"identity": ("keystone", self.base), "compute": ("nova", self.base + "/compute/v2.1"),
                "placement": ("placement", self.base + "/placement"), "network": ("neutron", self.base + "/network")}
        return [{"id": new_id(), "type": kind, "name": name, "endpoints": [
            {"id": new_id(), "interface": i, "region": "RegionOne", "region_id": "RegionOne", "url": url}
            for i in ("public", "internal", "admin")]} for kind, (name, url) in urls.items()]

    def issue_token(self, query, body):
        ident = body["auth"]["identity"]["password"]["user"]
        user = self.cloud.user_named(ident["name"])
        refused = {"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires "
                             "authentication."}}
        if user is None or not user["enabled"] or self.cloud.passwords.get(user["id"]) != ident["password"]:
            return self.send(401, refused)
        token = {"methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
                 "issued_at": "2026-01-01T00:00:00.000000Z",
                 "user": {"id": user["id"], "name": user["name"], "domain": {"id": "default", "name": "Default"}}}
        scope = body["auth"].get("scope")
        if scope is None and user.get("default_project_id") in self.cloud.projects:
            # as Keystone does: no scope at all means the user's default project
            scope = {"project": {"id": user["default_project_id"]}}
        if scope and scope != "unscoped":
            wanted = scope["project"]
            project = next((p for p in self.cloud.projects.values()
                            if p["id"] == wanted.get("id") or p["name"] == wanted.get("name")), None)
            roles = [self.cloud.roles[r] for (u, p, r) in self.cloud.assignments
                     if project and u == user["id"] and p == project["id"]]
            if not roles:
                return self.send(401, refused)
            token.update(project={"id": project["id"], "name": project["name"], "domain": {"id": "default"}},
                         roles=[{"id": r["id"], "name": r["name"]} for r in roles], catalog=self.catalog())
        value = new_id()
        self.cloud.tokens.add(value)
        self.send(201, {"token": token}, {"X-Subject-Token": value})

    def listing(self, key, items, query, filters=()):
        items = [i for i in items if all(k not in query or str(i.get(k)) == query[k] for k in filters)]
        if "marker" in query:
            ids = [i["id"] for i in items]
            items = items[ids.index(query["marker"]) + 1:] if query["marker"] in ids else []
        self.send(200, {key: items, "links": {"self": self.base, "next": None, "previous": None}})

    def ks_list(self, query, body, kind):
        filters = {"services": ("name", "type"), "endpoints": ("service_id", "interface"),
                   "projects": ("name", "domain_id"), "users": ("name", "domain_id"), "roles": ("name",)}[kind]
        self.listing(kind, [self.public(kind, i) for i in getattr(self.cloud, kind).values()], query, filters)

    def public(self, kind, item):
        return {k: v for k, v in item.items() if k != "password"}

    def ks_get(self, query, body, kind, ident):
        item = getattr(self.cloud, kind).get(ident)
        if item is None:
            return self.send(404, {"error": {"code": 404, "message": "Could not find %s: %s." % (kind[:-1], ident)}})
        self.send(200, {kind[:-1]: self.public(kind, item)})

    def ks_create(self, query, body, kind):
        fields = dict(body[kind[:-1]])
        fields.setdefault("enabled", True)
        password = fields.pop("password", None)
        item = self.cloud.add(kind, **fields)
        if password is not None:
            self.cloud.passwords[item["id"]] = password
        self.send(201, {kind[:-1]: self.public(kind, item)})

    def ks_update(self, query, body, kind, ident):
        item = getattr(self.cloud, kind).get(ident)
        if item is None:
            return self.send(404, {"error": {"code": 404, "message": "Could not find %s." % ident}})
        fields = dict(body[kind[:-1]])
        if "password" in fields:
            self.cloud.passwords[ident] = fields.pop("password")
        item.update(fields)
        self.send(200, {kind[:-1]: self.public(kind, item)})

    def ks_delete(self, query, body, kind, ident):
        getattr(self.cloud, kind).pop(ident, None)
        self.send(204)

    def role_assignments(self, query, body):
        found = [{"user": {"id": u}, "scope": {"project": {"id": p}}, "role": {"id": r}}
                 for (u, p, r) in sorted(self.cloud.assignments)
                 if query.get("user.id", u) == u and query.get("scope.project.id", p) == p
                 and query.get("role.id", r) == r]
        self.send(200, {"role_assignments": found, "links": {"self": self.base, "next": None, "previous": None}})

    def grant(self, query, body, project, user, role):
        self.cloud.assignments.add((user, project, role))
        self.send(204)

    # -- Nova ---------------------------------------------------------------------------
    def os_services(self, query, body):
        found = [s for s in self.cloud.compute_services.values() if query.get("binary", s["binary"]) == s["binary"]
                 and query.get("host", s["host"]) == s["host"]]
        self.send(200, {"services": found})

    def os_service_update(self, query, body, ident):
        service = self.cloud.compute_services[ident]
        service.update(status=body["status"], disabled_reason=body.get("disabled_reason"))
        self.send(200, {"service": service})

    def os_service_delete(self, query, body, ident):
        service = self.cloud.compute_services.pop(ident)
        hypervisor = self.cloud.hypervisors.pop(ident)
        if self.cloud.nova_deletes_providers:
            for uuid_, rp in list(self.cloud.providers.items()):
                if rp["name"] == hypervisor["hypervisor_hostname"]:
                    del self.cloud.providers[uuid_]
        del service
        self.send(204)

    def hypervisors_detail(self, query, body):
        self.send(200, {"hypervisors": list(self.cloud.hypervisors.values())})

    def server_view(self, server):
        return {"id": server["id"], "name": server["name"], "status": server["status"],
                "OS-EXT-SRV-ATTR:host": server["host"], "OS-EXT-STS:task_state": server["task_state"],
                "links": [], "flavor": {}, "image": "", "addresses": {}, "metadata": {}}

    def servers_detail(self, query, body):
        found = [self.server_view(s) for s in self.cloud.servers.values() if query.get("host", s["host"]) == s["host"]]
        self.send(200, {"servers": found})

    def elsewhere(self, server):
        return next(s["host"] for s in self.cloud.compute_services.values()
                    if s["host"] != server["host"] and s["status"] == "enabled" and s["state"] == "up")

    def server_action(self, query, body, ident):
        server = self.cloud.servers[ident]
        (action, _), = body.items()
        if action == "os-migrateLive":
            server["host"] = self.elsewhere(server)
        elif action == "migrate":
            # stays listed on its host until the resize is confirmed: the module confirms it
            server.update(status="VERIFY_RESIZE", moving_to=self.elsewhere(server))
        elif action == "confirmResize":
            server.update(status="SHUTOFF", host=server.pop("moving_to"))
        elif action == "forceDelete":
            del self.cloud.servers[ident]
        else:
            return self.send(400, {"badRequest": {"code": 400, "message": "action %s: not in the stand-in" % action}})
        self.send(202)

    # -- Placement, Neutron --------------------------------------------------------------
    def resource_providers(self, query, body):
        found = [rp for rp in self.cloud.providers.values() if query.get("name", rp["name"]) == rp["name"]]
        # Placement names a provider by its uuid: no "id" (the stand-in's own key)
        self.send(200, {"resource_providers": [{k: v for k, v in rp.items() if k != "id"} for rp in found]})

    def resource_provider_delete(self, query, body, ident):
        self.cloud.providers.pop(next(k for k, rp in self.cloud.providers.items() if rp["uuid"] == ident))
        self.send(204)

    def agents(self, query, body):
        found = [a for a in self.cloud.agents.values() if query.get("host", a["host"]) == a["host"]]
        self.send(200, {"agents": found})

    def agent_delete(self, query, body, ident):
        del self.cloud.agents[ident]
        self.send(204)


KS = "(services|endpoints|projects|users|roles)"
ROUTES = [
    (r"GET /", Handler.keystone_versions),
    (r"GET /v3", Handler.keystone_version),
    (r"POST /v3/auth/tokens", Handler.issue_token),
    (r"GET /v3/role_assignments", Handler.role_assignments),
    (r"PUT /v3/projects/(\w+)/users/(\w+)/roles/(\w+)", Handler.grant),
    (r"GET /v3/%s" % KS, Handler.ks_list),
    (r"GET /v3/%s/([^/]+)" % KS, Handler.ks_get),
    (r"POST /v3/%s" % KS, Handler.ks_create),
    (r"PATCH /v3/%s/(\w+)" % KS, Handler.ks_update),
    (r"DELETE /v3/%s/(\w+)" % KS, Handler.ks_delete),
    (r"GET /compute(/v2\.1)?", Handler.compute_versions),
    (r"GET /compute/v2\.1/os-services", Handler.os_services),
    (r"PUT /compute/v2\.1/os-services/(\w+)", Handler.os_service_update),
    (r"DELETE /compute/v2\.1/os-services/(\w+)", Handler.os_service_delete),
    (r"GET /compute/v2\.1/os-hypervisors/detail", Handler.hypervisors_detail),
    (r"GET /compute/v2\.1/servers/detail", Handler.servers_detail),
    (r"POST /compute/v2\.1/servers/(\w+)/action", Handler.server_action),
    (r"GET /placement", Handler.placement_versions),
    (r"GET /placement/resource_providers", Handler.resource_providers),
    (r"DELETE /placement/resource_providers/(\w+)", Handler.resource_provider_delete),
    (r"GET /network(/v2\.0)?", Handler.network_versions),
    (r"GET /network/v2\.0/agents", Handler.agents),
    (r"DELETE /network/v2\.0/agents/(\w+)", Handler.agent_delete),
]


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cloud):
        super().__init__(("127.0.0.1", 0), Handler)
        self.cloud = cloud
        self.url = "http://127.0.0.1:%d" % self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


def run_module(path, args, check=False, diff=False):
    """Runs a module file as Ansible runs it (its arguments as JSON; PYTHONPATH, set by the
    tests' conftest fixtures, finds the collection); returns its result."""
    import subprocess
    import sys
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=diff)}, fh)
        fh.flush()
        out = subprocess.run([sys.executable, path, fh.name], capture_output=True, text=True, timeout=300)
    try:
        return json.loads(out.stdout)
    except ValueError:
        raise AssertionError("module printed no result: %s %s" % (out.stdout, out.stderr))


def standin_fixture():
    """A pytest fixture: a Cloud served by a StandIn, and module runs that find the collection."""
    import pytest
    from fixtures import COLLECTIONS

    @pytest.fixture
    def standin(monkeypatch):
        monkeypatch.setenv("PYTHONPATH", COLLECTIONS)
        server = StandIn(Cloud())
        yield server
        server.stop()
    return standin
