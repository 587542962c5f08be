# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The files of an OpenStack service, rendered on the controller for the config_files
module: an ini file from a dict of sections, and the uWSGI settings and systemd drop-in
that run an API from them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

# The first line ansible.builtin.template wrote (its default ansible_managed): files
# written by earlier runs keep their content, so an upgrade restarts nothing.
HEADER = "# Ansible managed\n"
DROPIN_HEADER = "# Managed by stackwright.cloud: changes here are overwritten\n"


def ini_value(value):
    if value is True or value is False:
        return str(value).lower()
    if not isinstance(value, str) and hasattr(value, "__iter__"):
        return ",".join(str(v) for v in value)
    return str(value)


def ordered(mapping):
    """Keys in the order of Jinja's dictsort (case-insensitive), which the files of
    earlier runs were written in."""
    return sorted(mapping, key=lambda k: str(k).lower())


def ini(config):
    """An ini file: sections and keys sorted, booleans as true/false, lists joined with
    commas, None left out."""
    if not isinstance(config, dict) or not all(isinstance(v, dict) for v in config.values()):
        raise AnsibleFilterError("ini: give a mapping of sections, each a mapping of keys to values")
    out = [HEADER]
    for section in ordered(config):
        out.append("[%s]\n" % section)
        for key in ordered(config[section]):
            value = config[section][key]
            if value is not None:
                out.append("%s = %s\n" % (key, ini_value(value)))
        out.append("\n")
    return "".join(out)


def uwsgi_files(unit, project, port, wsgi_file, addresses, processes=2, threads=1):
    """The uWSGI settings that run UNIT's WSGI_FILE on ADDRESSES:PORT as user PROJECT,
    and the drop-in that makes the unit run uWSGI from them (config_files entries; each
    restarts UNIT). The packages' init scripts would listen on every address with 8-16
    workers."""
    if not unit or not project or not wsgi_file or not addresses:
        raise AnsibleFilterError("uwsgi_files: unit, project, wsgi_file and addresses are required")
    sockets = "".join("http-socket = %s:%s\n" % (a, port) for a in dict.fromkeys(addresses))
    settings = (
        HEADER + "[uwsgi]\n" + sockets
        + "wsgi-file = %s\nname = %s\nplugins = python3\nmaster = true\nlazy-apps = true\n" % (wsgi_file, unit)
        + "die-on-term = true\nno-orphans = true\nenable-threads = true\nthunder-lock = true\n"
        + "# neutron (ML2/OVN) names its API workers in its hash ring by start time\nstart-time = %t\n"
        + "processes = %s\nthreads = %s\nlisten = 100\nbuffer-size = 65535\n" % (processes, threads)
        # http-socket closes its connection after every answer: say so, or clients
        # reuse it after an answer without a body (a 204) and meet a reset
        + "rem-header = Content-Length\nadd-header = Connection: close\npaste-logger = true\n"
        + "uid = {p}\ngid = {p}\nchdir = /var/lib/{p}\nlogto = /var/log/{p}/{u}.log\n".format(p=project, u=unit))
    ini_path = "/etc/%s/%s-uwsgi.ini" % (project, unit)
    dropin = (DROPIN_HEADER + "[Service]\nExecStart=\nExecStart=/usr/bin/uwsgi_python3 --ini %s\n" % ini_path)
    return [
        dict(dest=ini_path, content=settings, owner="root", group=project, mode="0640", restarts=[unit]),
        dict(dest="/etc/systemd/system/%s.service.d/stackwright.conf" % unit, content=dropin,
             owner="root", group="root", mode="0644", restarts=[unit]),
    ]


class FilterModule(object):
    def filters(self):
        return {"ini": ini, "uwsgi_files": uwsgi_files}
