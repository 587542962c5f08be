"""The site's settings (plugins/filter/site.py, roles/site): every bad value is refused
naming its field before any node is touched, and the role renders what a node needs."""

import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.stackwright.cloud.plugins.filter.site import site_problems
from fixtures import link_collection

GOOD = {
    "site_ntp_servers": ["ntp1.example.com", "192.0.2.123", "2001:db8::123"],
    "site_dns_servers": ["192.0.2.53", "2001:db8::53"],
    "site_dns_domains": ["example.com", "~corp.example.com"],
    "site_apt_mirror": "http://mirror.example.com/debian",
    "site_apt_security_mirror": "https://mirror.example.com/debian-security/",
    "site_http_proxy": "http://proxy.example.com:3128",
    "site_https_proxy": "",
    "site_no_proxy": ["mirror.example.com", ".internal.example.com", "192.0.2.10"],
}


def test_good_settings_and_the_empty_defaults_pass():
    assert site_problems(GOOD) == []
    assert site_problems({key: [] if isinstance(value, list) else "" for key, value in GOOD.items()}) == []


BAD = [
    ("site_ntp_servers", ["ntp1.example.com\nserver evil.example.com"], "site_ntp_servers[0]"),
    ("site_ntp_servers", ["0.0.0.0"], "unspecified"),
    ("site_ntp_servers", ["224.0.1.1"], "multicast"),
    ("site_ntp_servers", ["bad_name!"], "site_ntp_servers[0]"),
    ("site_ntp_servers", [5], "site_ntp_servers[0]"),
    ("site_ntp_servers", "ntp1.example.com", "not a list"),
    ("site_dns_servers", ["dns.example.com"], "not an IP address"),
    ("site_dns_servers", ["::"], "unspecified"),
    ("site_dns_servers", ["192.0.2.53 192.0.2.54"], "site_dns_servers[0]"),
    ("site_dns_domains", ["example.com\nDNS=192.0.2.66"], "site_dns_domains[0]"),
    ("site_dns_domains", ["-bad.example.com"], "site_dns_domains[0]"),
    ("site_apt_mirror", "ftp://mirror.example.com/debian", "site_apt_mirror"),
    ("site_apt_mirror", "http://mirror.example.com/debian\nURIs: http://evil", "site_apt_mirror"),
    ("site_apt_mirror", "http://mirror.example.com/de bian", "site_apt_mirror"),
    ("site_apt_mirror", "http://user:pw@mirror.example.com/debian", "site_apt_mirror"),
    ("site_apt_mirror", "http://mirror.example.com/debian?x=1", "site_apt_mirror"),
    ("site_apt_security_mirror", "mirror.example.com", "site_apt_security_mirror"),
    ("site_http_proxy", 'http://proxy.example.com:3128";', "site_http_proxy"),
    ("site_http_proxy", "http://proxy.example.com:99999", "out of range"),
    ("site_https_proxy", "http://-bad-.example.com:3128", "site_https_proxy"),
    ("site_no_proxy", ["mirror.example.com\" DIRECT;"], "site_no_proxy[0]"),
]


@pytest.mark.parametrize("key,value,says", BAD, ids=["%s-%d" % (b[0], i) for i, b in enumerate(BAD)])
def test_a_bad_value_is_refused_naming_the_field(key, value, says):
    problems = site_problems(dict(GOOD, **{key: value}))
    assert len(problems) == 1, problems
    assert problems[0].startswith(key) and says in problems[0], problems


def run_role(tmp_path, settings, check=True):
    """The site role on this host as an Ansible run would, in check mode: a bad value must
    stop it at the check, before anything else runs (and check mode writes nothing if not)."""
    playbook = tmp_path / "site.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                         "roles": [{"role": "stackwright.cloud.site"}]}]))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=link_collection(tmp_path / "collections"))
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
            str(playbook), "-e", yaml.safe_dump(settings, default_flow_style=True).strip()]
    return subprocess.run(argv + (["--check"] if check else []), capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=300)


def test_the_role_stops_at_a_bad_value_before_touching_the_node(tmp_path):
    proc = run_role(tmp_path, {"site_apt_mirror": "http://mirror.example.com/debian\nURIs: http://evil"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "site_apt_mirror" in out and "not an http(s) URL apt can use" in out
    assert "Write the site's settings" not in proc.stdout
