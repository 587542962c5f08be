# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The site's services (time servers, resolvers, package mirror, proxy) checked before
any node is touched: each value ends up in a node's configuration file, one per line,
so a newline or a stray character would write a second setting."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.stackwright.cloud.plugins.module_utils.node_schema import address_problem

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(r"(?=[^\n]{1,253}\Z)%s(?:\.%s)*\.?\Z" % (_LABEL, _LABEL))
# a URL apt can take: scheme, host (name, IPv4 or [IPv6]), optional port and path;
# no spaces, quotes or control characters, no query or fragment
URL = re.compile(r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
                 r"(?P<path>/[A-Za-z0-9._~/%+-]*)?\Z")


def _ip(value):
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _address_problem(field, value, names_allowed):
    """None, or why VALUE is no address (or host name) a node can use."""
    if not isinstance(value, str) or not value:
        return "%s: %r is not a host name or address; give one as a string" % (field, value)
    ip = _ip(value)
    if ip is None:
        if names_allowed and HOSTNAME.match(value) and not value.replace(".", "").isdigit():
            return None
        return "%s: %r is not %s; give e.g. %s" % (
            field, value, "a host name or an IP address" if names_allowed else "an IP address",
            "ntp1.example.com or 192.0.2.10" if names_allowed else "192.0.2.53")
    # a resolver or time server on the node itself (127.0.0.1) is a fair choice
    problem = address_problem(ip, loopback=True)
    return "%s: %s" % (field, problem) if problem else None


def _url_problem(field, value, what):
    if not isinstance(value, str):
        return "%s: %r is not a URL; give a string such as %s" % (field, value, what)
    if value == "":
        return None
    match = URL.match(value)
    if not match:
        return ("%s: %r is not an http(s) URL apt can use (no spaces, quotes, control characters, query or "
                "user:password); give e.g. %s" % (field, value, what))
    host = match.group("host")
    if not host.startswith("[") and not HOSTNAME.match(host):
        return "%s: %r has no valid host name; give e.g. %s" % (field, value, what)
    if match.group("port") and not 0 < int(match.group("port")) < 65536:
        return "%s: port %s of %r is out of range (1-65535)" % (field, match.group("port"), value)
    return None


def _list(settings, key, problems):
    value = settings.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append("%s: %r is not a list; give a list (e.g. [%s])" % (key, value, "..."))
        return []
    return value


def site_problems(settings):
    """The problems (one sentence each, naming the field and the fix) of the site_* settings."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError("site_problems: expects a mapping of the site_* settings")
    problems = []
    for i, server in enumerate(_list(settings, "site_ntp_servers", problems)):
        problem = _address_problem("site_ntp_servers[%d]" % i, server, names_allowed=True)
        if problem:
            problems.append(problem)
    for i, server in enumerate(_list(settings, "site_dns_servers", problems)):
        problem = _address_problem("site_dns_servers[%d]" % i, server, names_allowed=False)
        if problem:
            problems.append(problem)
    for i, domain in enumerate(_list(settings, "site_dns_domains", problems)):
        name = domain[1:] if isinstance(domain, str) and domain.startswith("~") else domain
        if not isinstance(name, str) or not (name == "." and domain == "~." or HOSTNAME.match(name)):
            problems.append("site_dns_domains[%d]: %r is not a domain name; give e.g. example.com "
                            "(~example.com: only that domain's queries)" % (i, domain))
    for key, example in (("site_apt_mirror", "http://deb.debian.org/debian"),
                         ("site_apt_security_mirror", "http://security.debian.org/debian-security"),
                         ("site_http_proxy", "http://proxy.example.com:3128"),
                         ("site_https_proxy", "http://proxy.example.com:3128")):
        problem = _url_problem(key, settings.get(key, ""), example)
        if problem:
            problems.append(problem)
    for i, host in enumerate(_list(settings, "site_no_proxy", problems)):
        if not isinstance(host, str) or not (HOSTNAME.match(host.lstrip(".")) or _ip(host)):
            problems.append("site_no_proxy[%d]: %r is not a host name, domain (.example.com) or address" % (i, host))
    return problems


class FilterModule(object):
    def filters(self):
        return {"site_problems": site_problems}
