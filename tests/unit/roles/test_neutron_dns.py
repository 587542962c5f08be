"""roles/neutron's DNS integration, rendered by ansible-playbook from the role's own
vars: where a server role runs designate, neutron-server calls Designate's API on
the designate host's internal_api address and ML2 loads the extension drivers that
let ports be published; elsewhere neither file says anything of it."""
import json
import os
import sys

from fixtures import run_play

ADDRESSES = {"ctlplane": {"address": "192.168.24.10"}, "internal_api": {"address": "172.16.2.10"}}


def rendered(tmp_path, collections, designate):
    roles = os.path.join(collections, "ansible_collections", "stackwright", "cloud", "roles")
    out = tmp_path / "out.json"
    tasks = [{"ansible.builtin.include_vars": {"file": "%s/neutron/%s/main.yml" % (roles, kind)}}
             for kind in ("defaults", "vars")]
    tasks.append({"ansible.builtin.copy": {"content": "{{ {'conf': _neutron_config, 'ml2': _neutron_ml2_config} | to_json }}",
                                           "dest": str(out), "mode": "0600"}})
    groups = ["service_neutron_control", "service_ovn_central"] + (["service_designate"] if designate else [])
    inventory = {"all": {
        "children": {g: {"hosts": {"ctl0": {}}} for g in groups},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "overcloud_addresses": ADDRESSES, "overcloud_public_network": "ctlplane",
                 "overcloud_transport_url": "rabbit://x", "overcloud_authtoken": {}, "overcloud_secrets": {
                     "neutron_keystone_password": "pw", "neutron_database_password": "db", "neutron_metadata_secret": "m"},
                 "overcloud_service_auth": {"auth_type": "password", "auth_url": "http://172.16.2.10:5000"},
                 "overcloud_endpoints": {"database_host": "172.16.2.10"}, "neutron_provider_bridges": []}}}
    run_play(tmp_path, collections, [{"hosts": "ctl0", "gather_facts": False, "tasks": tasks}], inventory)
    return json.loads(out.read_text())


def test_with_designate_neutron_publishes_ports(tmp_path, collections):
    got = rendered(tmp_path, collections, designate=True)
    conf = got["conf"]
    assert conf["DEFAULT"]["external_dns_driver"] == "designate"
    assert conf["DEFAULT"]["dns_domain"] == "cloud.internal."
    assert conf["designate"]["url"] == "http://172.16.2.10:9001/v2"
    assert (conf["designate"]["username"], conf["designate"]["password"]) == ("neutron", "pw")
    assert conf["designate"]["allow_reverse_dns_lookup"] is False
    assert got["ml2"]["ml2"]["extension_drivers"] == ["port_security", "subnet_dns_publish_fixed_ip"]


def test_without_designate_nothing_changes(tmp_path, collections):
    got = rendered(tmp_path, collections, designate=False)
    assert "designate" not in got["conf"] and "external_dns_driver" not in got["conf"]["DEFAULT"]
    assert got["ml2"]["ml2"]["extension_drivers"] == ["port_security"]
