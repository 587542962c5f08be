"""validate_cloud.py's Magnum and Trove checks against in-memory APIs (the requests
the checks make, answered as Magnum 20, Trove 23 and Glance answer them): a
cluster template made, listed, read back as made and deleted with its image; the
datastores deploy.yml registered listed with their active versions and default.
Each failure a user would meet is named."""
import uuid
from types import SimpleNamespace

import pytest

from fixtures import _load

vc = _load("validate_cloud", "roles/validate/files/validate_cloud.py")


class Answer:
    def __init__(self, status, body=None):
        self.status_code, self._body = status, body
        self.content = b"" if body is None else b"x"
        self.text = "" if body is None else str(body)

    def json(self):
        return self._body


class FakeApis:
    """Glance's image records, Magnum's cluster templates, Trove's datastores."""

    def __init__(self, datastores=(), distro_read_back="fedora-coreos", listed=True):
        self.images, self.templates, self.deleted_images = {}, {}, []
        self.datastores = list(datastores)
        self.distro_read_back, self.listed = distro_read_back, listed

    def __call__(self, service_type, method, path, **kwargs):
        body = kwargs.get("json")
        if (service_type, method, path) == ("image", "POST", "/v2/images"):
            image = dict(body, id=str(uuid.uuid4()), status="queued")
            self.images[image["id"]] = image
            return Answer(201, image)
        if service_type == "container-infra":
            if (method, path) == ("POST", "/clustertemplates"):
                if not self.images.get(body["image_id"], {}).get("os_distro"):
                    return Answer(400, {"errors": [{"detail": "Image doesn't contain os_distro field."}]})
                made = dict(body, uuid=str(uuid.uuid4()), cluster_distro=self.distro_read_back)
                self.templates[made["uuid"]] = made
                return Answer(201, made)
            if (method, path) == ("GET", "/clustertemplates"):
                return Answer(200, {"clustertemplates": list(self.templates.values()) if self.listed else []})
            ident = path.rsplit("/", 1)[1]
            if method == "GET":
                return Answer(200, self.templates[ident]) if ident in self.templates else Answer(404, {})
            if method == "DELETE":
                return Answer(204) if self.templates.pop(ident, None) else Answer(404, {})
        if service_type == "database" and method == "GET":
            if path == "/datastores":
                return Answer(200, {"datastores": [{k: v for k, v in d.items() if k != "versions"}
                                                   for d in self.datastores]})
            store = next(d for d in self.datastores if path == "/datastores/%s/versions" % d["id"])
            return Answer(200, {"versions": store["versions"]})
        raise AssertionError("unexpected request %s %s %s" % (service_type, method, path))


def validator(apis, catalog=("container-infra", "database"), datastores=(), made=None):
    config = dict(vc.DEFAULTS, prefix="sw-validate", work_dir="/tmp", datastores=list(datastores))
    v = vc.Validator(config, None, {"auth": {}})
    v.made.update(made or {})
    v._api = apis
    v._in_catalog = lambda service_type: service_type in catalog
    v.conn = SimpleNamespace(image=SimpleNamespace(
        delete_image=lambda ident, ignore_missing: apis.deleted_images.append(ident)))
    return v


def test_a_cluster_template_made_read_back_and_deleted_with_its_image():
    apis = FakeApis()
    made = {"external": SimpleNamespace(id="ext-1"), "flavor": SimpleNamespace(id="fl-1")}
    detail = validator(apis, made=made).cluster_template()
    assert "sw-validate-cluster-template: kubernetes on image sw-validate-coe-image (fedora-coreos)" in detail
    assert "external network, flavor" in detail
    assert apis.templates == {}
    assert apis.deleted_images == list(apis.images)


def test_the_template_names_the_checks_network_and_flavor_only_where_made():
    apis = FakeApis()
    validator(apis).cluster_template()
    assert not any("external_network_id" in t for t in apis.templates.values())


@pytest.mark.parametrize("apis, message", [
    (FakeApis(listed=False), "made, but not in the list of cluster templates"),
    (FakeApis(distro_read_back="coreos"), "read back with {'cluster_distro': 'coreos'}"),
])
def test_a_template_not_listed_or_read_back_otherwise_fails(apis, message):
    with pytest.raises(vc.CheckFailed, match=message.replace("{", r"\{").replace("}", r"\}")):
        validator(apis).cluster_template()
    # what was made is left to the cleanup, which knows cluster templates
    assert "cluster template" in vc.Validator.OPTIONAL and len(apis.templates) == 1


def test_without_magnum_or_trove_the_checks_skip_saying_why():
    with pytest.raises(vc.NotDeployed, match="no container-infra in the catalog"):
        validator(FakeApis(), catalog=()).cluster_template()
    with pytest.raises(vc.NotDeployed, match="no database in the catalog"):
        validator(FakeApis(), catalog=()).datastore()


MARIADB = {"id": "ds-1", "name": "mariadb", "default_version": "v-114",
           "versions": [{"id": "v-114", "name": "11.4", "active": True}]}
WANTED = [{"name": "mariadb", "default": "11.4", "versions": [
    {"name": "11.4", "manager": "mariadb"}, {"name": "10.11", "manager": "mariadb", "active": False}]}]


def test_the_registered_datastores_are_listed_with_their_active_versions():
    detail = validator(FakeApis([MARIADB]), datastores=WANTED).datastore()
    assert detail == "datastores listed with their active versions: mariadb (11.4)"


@pytest.mark.parametrize("stores, wanted, message", [
    ([], WANTED, "datastore mariadb is not listed .found: none."),
    ([dict(MARIADB, versions=[{"id": "v-114", "name": "11.4", "active": False}])], WANTED,
     "datastore mariadb: version.s. 11.4 not listed as active"),
    ([dict(MARIADB, default_version="v-other")], WANTED, "datastore mariadb: the default version is not 11.4"),
    ([dict(MARIADB, default_version=None)], [], "no datastore with a default version .found: mariadb."),
])
def test_a_datastore_missing_inactive_or_without_its_default_fails(stores, wanted, message):
    with pytest.raises(vc.CheckFailed, match=message):
        validator(FakeApis(stores), datastores=wanted).datastore()


def test_without_a_list_any_datastore_with_a_default_passes():
    assert validator(FakeApis([MARIADB])).datastore() == "datastores listed with their active versions: mariadb (11.4)"


class ConnectFailure(Exception):
    """keystoneauth's name for a connection the server closed without an answer."""


def test_a_read_is_asked_again_after_a_dropped_connection_a_write_is_not(monkeypatch):
    """Zaqar's uWSGI worker closed a stats request without an answer (CI, stop 29): a GET is
    asked again; a POST is not (it may have been done)."""
    monkeypatch.setattr(vc.time, "sleep", lambda seconds: None)
    calls = []

    def request(url, method, raise_exc, **kwargs):
        calls.append(method)
        if len(calls) == 1:
            raise ConnectFailure("('Connection aborted.', RemoteDisconnected('Remote end closed connection'))")
        return Answer(200, {"messages": {"total": 0}})

    v = vc.Validator(dict(vc.DEFAULTS, prefix="sw-validate", work_dir="/tmp"), None, {"auth": {}})
    v.conn = SimpleNamespace(endpoint_for=lambda service_type, interface: "http://192.0.2.10:8888",
                             session=SimpleNamespace(request=request))
    assert v._api("messaging", "GET", "/v2/queues/q/stats").json() == {"messages": {"total": 0}}
    assert calls == ["GET", "GET"]
    calls.clear()
    with pytest.raises(ConnectFailure):
        v._api("messaging", "POST", "/v2/queues/q/messages", json={})
    assert calls == ["POST"]
