# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trove's datastores as the deployer wants them (TROVE_DATASTORES, JSON), written
to Trove's database through Trove's own models - what trove-manage's
datastore_update and datastore_version_update do - changing only what differs, so
a second run changes nothing. Reads /etc/trove/trove.conf; prints one JSON line
{"changed": bool, "actions": [...]} (or {"failed": true, "msg": ...}) and never a
password (an error naming the database URL has its password hidden)."""

import json
import os
import sys


def text(value):
    return "" if value is None else str(value)


def main():
    wanted = json.loads(os.environ["TROVE_DATASTORES"])
    from trove.common import cfg
    cfg.parse_args(["trove-datastores"])
    # trove.conf retries for ever (the services wait out a database restart); this fails
    cfg.CONF.set_override("max_retries", 3, group="database")
    from trove.db import get_db_api
    get_db_api().configure_db()
    from trove.common import exception
    from trove.datastore import models

    actions = []
    for store in wanted:
        name = store["name"]
        try:
            datastore = models.Datastore.load(name)
        except exception.DatastoreNotFound:
            models.update_datastore(name, None)
            datastore = models.Datastore.load(name)
            actions.append("create datastore %s" % name)
        for version in store["versions"]:
            want = {"manager": version["manager"], "image_id": text(version.get("image_id")),
                    "image_tags": ",".join(version.get("image_tags") or []),
                    "packages": text(version.get("packages")), "active": bool(version.get("active", True))}
            row = None
            try:
                row = models.DatastoreVersion.load(datastore, str(version["name"])).db_info
                have = {"manager": row.manager, "image_id": text(row.image_id), "image_tags": text(row.image_tags),
                        "packages": text(row.packages), "active": bool(row.active)}
            except exception.DatastoreVersionNotFound:
                have = None
            if have != want:
                # the row found by name, also one trove-manage registered with another version number
                models.update_datastore_version(name, str(version["name"]), want["manager"], want["image_id"] or None,
                                                want["image_tags"], want["packages"], want["active"],
                                                version=row.version if row is not None else None)
                verb = "create" if have is None else "update"
                actions.append("%s datastore version %s %s" % (verb, name, version["name"]))
        default = str(store["default"]) if store.get("default") else None
        default_id = models.DatastoreVersion.load(datastore, default).id if default else None
        if models.Datastore.load(name).default_version_id != default_id:
            models.update_datastore(name, default)
            actions.append("datastore %s: default version %s" % (name, default or "none"))
    print(json.dumps({"changed": bool(actions), "actions": actions}))
    return 0


def redact(text):
    """TEXT without the database URL's password (SQLAlchemy names a URL it cannot parse)."""
    try:
        from trove.common import cfg
        url = cfg.CONF.database.connection or ""
    except Exception:
        return text
    password = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
    return text.replace(password, "********") if password else text


def run():
    try:
        return main()
    except Exception as exc:  # reported as the result, never a traceback
        print(json.dumps({"changed": False, "actions": [], "failed": True,
                          "msg": redact("%s: %s" % (type(exc).__name__, exc))[:2000]}))
        return 1


if __name__ == "__main__":
    sys.exit(run())
