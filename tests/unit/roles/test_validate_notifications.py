"""validate_cloud.py's telemetry check, its notification part against in-memory
Glance and Gnocchi: an image uploaded and deleted must have its Gnocchi resource
ended (only Glance's image.delete notification, through Ceilometer's event
pipeline, does that); a cloud whose services send no notifications fails,
saying so."""
from types import SimpleNamespace

import pytest

from fixtures import _load

vc = _load("validate_cloud", "roles/validate/files/validate_cloud.py")


class Answer:
    def __init__(self, status, body=None):
        self.status_code, self._body, self.text = status, body, str(body)

    def json(self):
        return self._body


class Cloud:
    """Glance's uploads and deletes; Gnocchi's image resources, made on upload and
    ended on delete when notifications flow."""

    def __init__(self, notifications=True):
        self.notifications, self.resources, self.deleted = notifications, {}, []

    def upload(self, what, path, disk_format, container_format):
        image = SimpleNamespace(id="img-%d" % (len(self.resources) + 1), name="sw-validate-" + what)
        self.resources[image.id] = {"id": image.id, "ended_at": None}
        return image

    def delete_image(self, image):
        self.deleted.append(image.id)
        if self.notifications:
            self.resources[image.id]["ended_at"] = "2026-12-07T13:00:00+00:00"

    def api(self, service_type, method, path):
        assert (service_type, method) == ("metric", "GET")
        found = self.resources.get(path.rsplit("/", 1)[1])
        return Answer(200, found) if found else Answer(404, {})


def validator(cloud, tmp_path):
    config = dict(vc.DEFAULTS, prefix="sw-validate", work_dir=str(tmp_path),
                  timeouts=dict(vc.DEFAULTS["timeouts"], notification=1))
    v = vc.Validator(config, None, {"auth": {}})
    v._upload, v._api = cloud.upload, cloud.api
    v.conn = SimpleNamespace(image=SimpleNamespace(delete_image=cloud.delete_image))
    return v


def test_a_deleted_images_resource_is_ended(tmp_path):
    cloud = Cloud()
    detail = validator(cloud, tmp_path)._ended_on_delete()
    assert "image sw-validate-events-image known to Gnocchi" in detail and "its resource ended" in detail
    assert cloud.deleted == ["img-1"]
    assert list(tmp_path.iterdir()) == []  # the upload's file is gone


def test_without_notifications_the_check_fails_saying_why(tmp_path, monkeypatch):
    monkeypatch.setattr(vc.time, "sleep", lambda seconds: None)
    with pytest.raises(vc.CheckFailed, match="end the resource of deleted image sw-validate-events-image .Glance's "
                                             "notification of the delete"):
        validator(Cloud(notifications=False), tmp_path)._ended_on_delete()
