"""The catalogue's service roles (Barbican, Heat, Designate, Swift, telemetry, Zaqar,
Magnum, Trove):
their declarations, templated by ansible-playbook with a plan's facts as the overcloud
role sets them, give the files a node gets - barbican.conf with a key-encryption key
simple_crypto can use, heat.conf with the stack domain, Swift's proxy and storage
servers on their networks and its rings' devices, ... - the APIs under uWSGI on the
node's addresses, and the catalog entries."""
import base64
import configparser
import json
import os
import subprocess
import sys

import pytest
import yaml
from cryptography.fernet import Fernet

from fixtures import ROOT

SECRETS = {name: (name.replace("_", "") * 4)[:32] for name in (
    "barbican_database_password", "barbican_keystone_password", "barbican_simple_crypto_kek",
    "heat_database_password", "heat_keystone_password", "heat_domain_admin_password", "heat_auth_encryption_key",
    "designate_database_password", "designate_keystone_password", "designate_rndc_key",
    "swift_keystone_password", "swift_hash_path_prefix", "swift_hash_path_suffix",
    "gnocchi_database_password", "gnocchi_keystone_password", "ceilometer_keystone_password",
    "aodh_database_password", "aodh_keystone_password", "zaqar_database_password", "zaqar_keystone_password",
    "magnum_database_password", "magnum_keystone_password", "magnum_domain_admin_password",
    "trove_database_password", "trove_keystone_password", "trove_rabbitmq_password",
    "trove_taskmanager_rpc_encr_key", "trove_inst_rpc_key_encr_key")}

FACTS = {
    "overcloud_secrets": SECRETS,
    "overcloud_api_addresses": ["172.16.2.10", "192.168.24.50"],
    "overcloud_addresses": {"internal_api": {"address": "172.16.2.10"}, "ctlplane": {"address": "192.168.24.50"}},
    "overcloud_public_network": "ctlplane",
    "overcloud_transport_url": "rabbit://openstack:pw@172.16.2.10:5672/",
    "overcloud_notifications": {},
    "overcloud_endpoints": {"database_host": "172.16.2.10", "region": "RegionOne",
                            "keystone_internal_url": "http://172.16.2.10:5000",
                            "keystone_public_url": "http://192.168.24.50:5000",
                            "rabbitmq_hosts": ["172.16.2.10"]},
    "overcloud_authtoken": {"auth_type": "password", "auth_url": "http://172.16.2.10:5000"},
    "overcloud_service_auth": {"auth_type": "password", "auth_url": "http://172.16.2.10:5000", "project_name": "service"},
}


def render(tmp_path, collections, role, extra=None, inventory=None, host="localhost", var=None):
    """The role's declaration (<role>_service, or VAR of its vars), templated on HOST (of
    INVENTORY, a YAML inventory as a dict, when the declaration reads other hosts' facts)."""
    out = tmp_path / "declaration.json"
    play = [{"hosts": host, "gather_facts": False,
             "vars_files": [os.path.join(ROOT, "roles", role, "defaults", "main.yml"),
                            os.path.join(ROOT, "roles", role, "vars", "main.yml")],
             # the inventory's own facts (hosts' addresses) are not overridden by play vars
             "vars": {k: v for k, v in FACTS.items() if not (k == "overcloud_addresses" and inventory)},
             "tasks": [{"name": "Render", "ansible.builtin.copy": {
                 "content": "{{ %s | to_json }}" % (var or role + "_service"), "dest": str(out), "mode": "0600"}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    # the operator's settings, over the role's defaults
    (tmp_path / "extra.json").write_text(json.dumps(extra or {}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    (tmp_path / "inventory.json").write_text(json.dumps(inventory or {"all": {"hosts": {"localhost": {}}}}))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                           "-i", "inventory.json", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                           "-e", "@extra.json", "play.yml"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def files_of(declaration):
    return {f["dest"]: f for f in declaration["files"]}


def ini(content):
    parser = configparser.RawConfigParser(strict=True)
    parser.read_string(content)
    return parser


@pytest.fixture(scope="module")
def barbican(tmp_path_factory, collections):
    return render(tmp_path_factory.mktemp("barbican"), collections, "barbican")


@pytest.fixture(scope="module")
def heat(tmp_path_factory, collections):
    return render(tmp_path_factory.mktemp("heat"), collections, "heat")


def test_barbican_key_encryption_key_is_the_deployment_secret_as_a_fernet_key(barbican):
    conf = files_of(barbican)["/etc/barbican/barbican.conf"]
    assert conf["secret"] is True and conf["mode"] == "0640" and conf["group"] == "barbican"
    kek = ini(conf["content"]).get("simple_crypto_plugin", "kek")
    # base64 of the secret's 32 bytes: what Fernet (simple_crypto) takes
    assert base64.urlsafe_b64decode(kek) == SECRETS["barbican_simple_crypto_kek"].encode()
    token = Fernet(kek.encode()).encrypt(b"project key")
    assert Fernet(kek.encode()).decrypt(token) == b"project key"


def test_barbican_settings_units_and_catalog(barbican):
    conf = ini(files_of(barbican)["/etc/barbican/barbican.conf"]["content"])
    assert conf.get("crypto", "enabled_crypto_plugins") == "simple_crypto"
    assert conf.get("secretstore", "enabled_secretstore_plugins") == "store_crypto"
    assert conf.get("database", "connection") == (
        "mysql+pymysql://barbican:%s@172.16.2.10/barbican" % SECRETS["barbican_database_password"])
    assert conf.get("DEFAULT", "transport_url") == "rabbit://openstack:pw@172.16.2.10:5672/"
    assert conf.get("DEFAULT", "host_href") == "http://192.168.24.50:9311"
    assert conf.get("keystone_authtoken", "username") == "barbican"
    # not the services' "notifications", which Ceilometer reads: a shared queue splits them
    assert conf.get("keystone_notifications", "topic") == "barbican_notifications"
    assert barbican["groups"] == {"service_barbican": {
        "units": ["barbican-api", "barbican-worker", "barbican-keystone-listener"], "api_ports": [9311]}}
    assert barbican["catalog"]["type"] == "key-manager" and barbican["catalog"]["port"] == 9311
    uwsgi = files_of(barbican)["/etc/barbican/barbican-api-uwsgi.ini"]["content"]
    assert "http-socket = 172.16.2.10:9311\nhttp-socket = 192.168.24.50:9311\n" in uwsgi
    assert "wsgi-file = /usr/bin/barbican-wsgi-api\n" in uwsgi
    assert barbican["db_sync"] == {"package": "python3-barbican", "commands": [["barbican-manage", "db", "upgrade"]]}


def test_barbican_overrides_merge_over_the_settings(tmp_path, collections):
    declaration = render(tmp_path, collections, "barbican", {
        "barbican_config_overrides": {"oslo_policy": {"enforce_new_defaults": True}, "DEFAULT": {"debug": True}},
        "barbican_port": 9312})
    conf = ini(files_of(declaration)["/etc/barbican/barbican.conf"]["content"])
    assert conf.get("oslo_policy", "enforce_new_defaults") == "true"
    assert conf.get("oslo_policy", "policy_dirs") == "/etc/barbican/policy.d"  # kept
    assert conf.get("DEFAULT", "debug") == "true" and conf.get("DEFAULT", "log_dir") == "/var/log/barbican"
    assert declaration["groups"]["service_barbican"]["api_ports"] == [9312]


def test_heat_stack_domain_and_keys(heat):
    conf_file = files_of(heat)["/etc/heat/heat.conf"]
    assert conf_file["secret"] is True and conf_file["mode"] == "0640"
    conf = ini(conf_file["content"])
    assert conf.get("DEFAULT", "stack_user_domain_name") == "heat"
    assert conf.get("DEFAULT", "stack_domain_admin") == "heat_domain_admin"
    assert conf.get("DEFAULT", "stack_domain_admin_password") == SECRETS["heat_domain_admin_password"]
    # Heat takes exactly 32 characters (its Fernet key is their base64)
    key = conf.get("DEFAULT", "auth_encryption_key")
    assert len(key) == 32 and key == SECRETS["heat_auth_encryption_key"]
    assert conf.get("trustee", "username") == "heat"
    assert conf.get("trustee", "password") == SECRETS["heat_keystone_password"]
    assert conf.get("DEFAULT", "heat_metadata_server_url") == "http://192.168.24.50:8000"
    assert conf.get("DEFAULT", "heat_waitcondition_server_url") == "http://192.168.24.50:8000/v1/waitcondition"
    assert conf.get("clients", "endpoint_type") == "internalURL"


def test_heat_apis_engine_and_catalog(heat):
    files = files_of(heat)
    for unit, port, script in (("heat-api", 8004, "heat-wsgi-api"), ("heat-api-cfn", 8000, "heat-wsgi-api-cfn")):
        uwsgi = files["/etc/heat/%s-uwsgi.ini" % unit]
        assert uwsgi["restarts"] == [unit]
        assert "http-socket = 172.16.2.10:%d\nhttp-socket = 192.168.24.50:%d\n" % (port, port) in uwsgi["content"]
        assert "wsgi-file = /usr/bin/%s\n" % script in uwsgi["content"]
        assert "/etc/systemd/system/%s.service.d/stackwright.conf" % unit in files
    assert heat["groups"]["service_heat"] == {"units": ["heat-api", "heat-api-cfn", "heat-engine"],
                                              "api_ports": [8004, 8000]}
    assert heat["catalog"]["type"] == "orchestration" and heat["catalog"]["path"] == "/v1/%(project_id)s"
    assert heat["hooks"] == {"before_units": "keystone.yml"}
    assert files["/etc/heat/heat.conf"]["restarts"] == ["heat-api", "heat-api-cfn", "heat-engine"]


# Two designate hosts: every BIND is fed by both mdns, the pool lists both.
DESIGNATE_INVENTORY = {"all": {"children": {"service_designate": {"hosts": {
    "ctl0": {"overcloud_addresses": {"internal_api": {"address": "172.16.2.10"},
                                     "ctlplane": {"address": "192.168.24.50"}}},
    "ctl1": {"overcloud_addresses": {"internal_api": {"address": "172.16.2.11"},
                                     "ctlplane": {"address": "192.168.24.51"}}}}}}}}


@pytest.fixture(scope="module")
def designate(tmp_path_factory, collections):
    facts = {k: v for k, v in FACTS.items() if k != "overcloud_addresses"}
    return render(tmp_path_factory.mktemp("designate"), collections, "designate", extra=facts,
                  inventory=DESIGNATE_INVENTORY, host="ctl0")


def test_designate_settings_units_and_catalog(designate):
    files = files_of(designate)
    conf = ini(files["/etc/designate/designate.conf"]["content"])
    assert files["/etc/designate/designate.conf"]["secret"] is True
    assert conf.get("storage:sqlalchemy", "connection") == (
        "mysql+pymysql://designate:%s@172.16.2.10/designate" % SECRETS["designate_database_password"])
    assert conf.get("service:mdns", "listen") == "172.16.2.10:5354"
    assert conf.get("service:api", "api_base_uri") == "http://192.168.24.50:9001/"
    assert conf.get("service:central", "default_pool_id") == "794ccc2c-d751-44fe-b57f-8894c9f5c842"
    assert conf.get("keystone_authtoken", "password") == SECRETS["designate_keystone_password"]
    assert designate["groups"]["service_designate"]["units"][0] == "named"
    assert designate["catalog"]["type"] == "dns" and designate["catalog"]["port"] == 9001
    assert "wsgi-file = /usr/bin/designate-api-wsgi\n" in files["/etc/designate/designate-api-uwsgi.ini"]["content"]
    assert designate["db_sync"]["commands"] == [["designate-manage", "database", "sync"]]
    assert designate["hooks"] == {"after_units": "pools.yml"}


def test_designate_pool_has_every_bind_and_mdns(designate):
    pools = yaml.safe_load(files_of(designate)["/etc/designate/pools.yaml"]["content"])
    assert len(pools) == 1 and pools[0]["id"] == "794ccc2c-d751-44fe-b57f-8894c9f5c842"
    assert pools[0]["ns_records"] == [{"hostname": "ns1.cloud.internal.", "priority": 1}]
    assert pools[0]["nameservers"] == [{"host": "172.16.2.10", "port": 53}, {"host": "172.16.2.11", "port": 53}]
    masters = [{"host": "172.16.2.10", "port": 5354}, {"host": "172.16.2.11", "port": 5354}]
    assert [(t["type"], t["options"]["host"], t["options"]["rndc_host"], t["masters"]) for t in pools[0]["targets"]] == [
        ("bind9", "172.16.2.10", "172.16.2.10", masters), ("bind9", "172.16.2.11", "172.16.2.11", masters)]
    assert all(t["options"]["rndc_key_file"] == "/etc/designate/rndc.key" for t in pools[0]["targets"])
    # a deleted zone's file goes with it: a late update that adds the zone back finds nothing to serve
    assert all(t["options"]["clean_zonefile"] == "true" for t in pools[0]["targets"])


def test_designate_rndc_key_is_shared_and_bind_is_authoritative_only(designate):
    files = files_of(designate)
    worker_key, bind_key = files["/etc/designate/rndc.key"], files["/etc/bind/rndc.key"]
    assert worker_key["content"] == bind_key["content"] and worker_key["secret"] and bind_key["secret"]
    assert (worker_key["group"], worker_key["mode"], bind_key["group"], bind_key["mode"]) == (
        "designate", "0640", "bind", "0640")
    secret = base64.b64encode(SECRETS["designate_rndc_key"].encode()).decode()
    assert 'algorithm hmac-sha256;' in bind_key["content"] and 'secret "%s";' % secret in bind_key["content"]
    options = files["/etc/bind/named.conf.options"]["content"]
    assert "listen-on port 53 { 172.16.2.10; 192.168.24.50; };" in options
    assert "recursion no;" in options and "allow-new-zones yes;" in options
    assert "allow-notify { 172.16.2.10; 172.16.2.11; };" in options
    assert options.startswith('include "/etc/bind/rndc.key";\n')  # one key, in the file root's rndc reads
    assert 'inet 172.16.2.10 port 953 allow { 172.16.2.10; 172.16.2.11; } keys { "designate"; };' in options
    assert 'inet 127.0.0.1 port 953 allow { 127.0.0.1; } keys { "designate"; };' in options
    assert "dnssec-validation no;" in options and "notify no;" in options  # nothing asked of the Internet
    assert files["/etc/bind/named.conf.options"]["restarts"] == ["named"]
    # its control channel is made at start only, on an address that must be up by then
    assert "After=network-online.target" in files["/etc/systemd/system/named.service.d/stackwright.conf"]["content"]


# Swift: ctl0 runs the proxy and stores, st1 stores on two devices of its own.
SWIFT_ADDRESSES = {
    "ctl0": {"internal_api": {"address": "172.16.2.10"}, "ctlplane": {"address": "192.168.24.50"},
             "storage": {"address": "172.16.1.10"}},
    "st1": {"internal_api": {"address": "172.16.2.20"}, "ctlplane": {"address": "192.168.24.60"},
            "storage": {"address": "172.16.1.20"}},
}
SWIFT_INVENTORY = {"all": {
    "hosts": {"ctl0": {"overcloud_addresses": SWIFT_ADDRESSES["ctl0"]},
              "st1": {"overcloud_addresses": SWIFT_ADDRESSES["st1"], "swift_zone": 2,
                      "swift_devices": [{"name": "sdb", "weight": 200}, {"name": "sdc"}]}},
    "children": {"service_swift_proxy": {"hosts": {"ctl0": {}}},
                 "service_swift_storage": {"hosts": {"ctl0": {}, "st1": {}}}}}}
SWIFT_FACTS = dict({k: v for k, v in FACTS.items() if k != "overcloud_addresses"},
                   overcloud_state_dir="/srv/state",
                   overcloud_endpoints=dict(FACTS["overcloud_endpoints"], memcached_servers=["172.16.2.10:11211"]))


@pytest.fixture(scope="module")
def swift(tmp_path_factory, collections):
    return render(tmp_path_factory.mktemp("swift"), collections, "swift", extra=SWIFT_FACTS,
                  inventory=SWIFT_INVENTORY, host="ctl0")


def test_swift_proxy_on_each_api_address_with_keystone(swift):
    files = files_of(swift)
    assert swift["groups"]["service_swift_proxy"]["units"] == ["swift-proxy", "swift-proxy-public"]
    assert swift["catalog"]["type"] == "object-store" and swift["catalog"]["path"] == "/v1/AUTH_%(project_id)s"
    assert swift["api_path"] == "/healthcheck"
    internal, public = (ini(files["/etc/swift/%s" % f]["content"]) for f in ("proxy-server.conf", "proxy-server-public.conf"))
    assert (internal.get("DEFAULT", "bind_ip"), public.get("DEFAULT", "bind_ip")) == ("172.16.2.10", "192.168.24.50")
    pipeline = internal.get("pipeline:main", "pipeline").split()
    assert pipeline[-1] == "proxy-server" and "tempauth" not in pipeline
    assert pipeline.index("authtoken") + 1 == pipeline.index("keystoneauth")
    assert internal.get("filter:authtoken", "password") == SECRETS["swift_keystone_password"]
    assert internal.get("filter:authtoken", "delay_auth_decision") == "true"
    assert internal.get("filter:cache", "memcache_servers") == "172.16.2.10:11211"
    assert files["/etc/swift/proxy-server.conf"]["secret"] and files["/etc/swift/proxy-server.conf"]["mode"] == "0640"
    assert "/etc/swift/proxy-server-public.conf" in files["/etc/systemd/system/swift-proxy-public.service"]["content"]
    conf = ini(files["/etc/swift/swift.conf"]["content"])
    assert conf.get("swift-hash", "swift_hash_path_suffix") == SECRETS["swift_hash_path_suffix"]
    assert files["/etc/swift/swift.conf"]["secret"]


def test_swift_storage_servers_on_the_storage_network(swift):
    files = files_of(swift)
    for kind, port in (("account", 6202), ("container", 6201), ("object", 6200)):
        conf = ini(files["/etc/swift/%s-server.conf" % kind]["content"])
        assert (conf.get("DEFAULT", "bind_ip"), conf.get("DEFAULT", "bind_port")) == ("172.16.1.10", str(port))
        assert conf.get("DEFAULT", "devices") == "/srv/node" and conf.get("DEFAULT", "mount_check") == "false"
        assert conf.has_section("%s-replicator" % kind) and conf.has_section("%s-auditor" % kind)
        assert files["/etc/swift/%s-server.conf" % kind]["restarts"] == [
            u for u in swift["groups"]["service_swift_storage"]["units"] if u.startswith("swift-" + kind)]
    rsyncd = files["/etc/rsyncd.conf"]["content"]
    assert "address = 172.16.1.10\n" in rsyncd
    assert all("[%s]" % m in rsyncd for m in ("account", "container", "object"))
    assert {"path": "/srv/node/d1", "owner": "swift", "mode": "0750"} in swift["directories"]


@pytest.fixture(scope="module")
def swift_rings(tmp_path_factory, collections):
    return render(tmp_path_factory.mktemp("swift-rings"), collections, "swift", extra=SWIFT_FACTS,
                  inventory=SWIFT_INVENTORY, host="ctl0", var="_swift_ring_request")


def test_swift_rings_hold_every_storage_hosts_devices(swift_rings):
    assert swift_rings["replicas"] == 2  # min(3, storage hosts)
    assert swift_rings["part_power"] == 10 and swift_rings["ports"] == {"account": 6202, "container": 6201, "object": 6200}
    assert [(d["host"], d["ip"], d["zone"], d["device"], d["weight"]) for d in swift_rings["devices"]] == [
        ("ctl0", "172.16.1.10", 1, "d1", 100.0), ("st1", "172.16.1.20", 2, "sdb", 200.0),
        ("st1", "172.16.1.20", 2, "sdc", 100.0)]


@pytest.fixture(scope="module")
def more_services(tmp_path_factory, collections):
    facts = dict(FACTS, overcloud_endpoints=dict(FACTS["overcloud_endpoints"], memcached_servers=["172.16.2.10:11211"]))
    return {role: render(tmp_path_factory.mktemp(role), collections, role, extra=facts)
            for role in ("gnocchi", "ceilometer", "aodh", "zaqar", "magnum", "trove")}


def test_gnocchi_indexer_storage_and_catalog(more_services):
    gnocchi = more_services["gnocchi"]
    conf = ini(files_of(gnocchi)["/etc/gnocchi/gnocchi.conf"]["content"])
    assert conf.get("indexer", "url") == "mysql+pymysql://gnocchi:%s@172.16.2.10/gnocchi" % SECRETS["gnocchi_database_password"]
    assert (conf.get("storage", "driver"), conf.get("storage", "file_basepath")) == ("file", "/var/lib/gnocchi")
    assert conf.get("api", "auth_mode") == "keystone"
    assert gnocchi["catalog"]["type"] == "metric" and gnocchi["catalog"]["port"] == 8041
    assert gnocchi["db_sync"]["commands"] == [["gnocchi-upgrade"]]
    assert "http-socket = 172.16.2.10:8041\n" in files_of(gnocchi)["/etc/gnocchi/gnocchi-api-uwsgi.ini"]["content"]


def test_ceilometer_has_a_user_and_no_catalog_entry(more_services):
    ceilometer = more_services["ceilometer"]
    assert ceilometer["catalog"] == {"password": SECRETS["ceilometer_keystone_password"]}
    assert ceilometer["groups"]["service_ceilometer_compute"]["units"] == ["ceilometer-agent-compute"]
    files = files_of(ceilometer)
    conf = ini(files["/etc/ceilometer/ceilometer.conf"]["content"])
    assert conf.get("service_credentials", "username") == "ceilometer"
    assert conf.get("service_credentials", "interface") == "internalURL"
    polling = yaml.safe_load(files["/etc/ceilometer/polling.yaml"]["content"])
    assert polling["sources"][0]["interval"] == 300 and "image.size" in polling["sources"][0]["meters"]
    assert ceilometer["hooks"] == {"after_units": "upgrade.yml"}
    # a host outside service_ceilometer_central has no notification agent, so no events
    assert "/etc/ceilometer/event_pipeline.yaml" not in files


@pytest.mark.parametrize("aodh, publishers", [(False, ["gnocchi://"]),
                                              (True, ["gnocchi://", "notifier://?topic=alarm.all"])])
def test_ceilometer_events_end_resources_and_reach_aodh(tmp_path, collections, aodh, publishers):
    """The services' events end deleted resources in Gnocchi; where Aodh runs, they go
    to aodh-listener's topic (alarm.all)."""
    groups = ["service_ceilometer_central"] + (["service_aodh"] if aodh else [])
    inventory = {"all": {"children": {g: {"hosts": {"ctl0": {"ansible_connection": "local"}}} for g in groups}}}
    facts = dict(FACTS, overcloud_endpoints=dict(FACTS["overcloud_endpoints"], memcached_servers=["172.16.2.10:11211"]))
    ceilometer = render(tmp_path, collections, "ceilometer", extra=facts, inventory=inventory, host="ctl0")
    files = files_of(ceilometer)
    events = yaml.safe_load(files["/etc/ceilometer/event_pipeline.yaml"]["content"])
    assert events["sinks"] == [{"name": "event_sink", "publishers": publishers}]
    assert files["/etc/ceilometer/event_pipeline.yaml"]["restarts"] == ["ceilometer-agent-notification"]


def test_where_ceilometer_runs_the_services_send_notifications(tmp_path, collections):
    notifications = {"oslo_messaging_notifications": {"driver": "messagingv2",
                                                      "transport_url": FACTS["overcloud_transport_url"]}}
    heat = render(tmp_path, collections, "heat", extra={"overcloud_notifications": notifications})
    conf = ini(files_of(heat)["/etc/heat/heat.conf"]["content"])
    assert (conf.get("oslo_messaging_notifications", "driver"), conf.get("oslo_messaging_notifications", "transport_url")) \
        == ("messagingv2", FACTS["overcloud_transport_url"])
    # the operator's overrides still win
    heat = render(tmp_path, collections, "heat", extra={"overcloud_notifications": notifications,
                                                        "heat_config_overrides": {"oslo_messaging_notifications":
                                                                                  {"driver": "noop"}}})
    conf = ini(files_of(heat)["/etc/heat/heat.conf"]["content"])
    assert conf.get("oslo_messaging_notifications", "driver") == "noop"


def test_aodh_database_evaluator_and_catalog(more_services):
    aodh = more_services["aodh"]
    conf = ini(files_of(aodh)["/etc/aodh/aodh.conf"]["content"])
    assert conf.get("database", "connection") == "mysql+pymysql://aodh:%s@172.16.2.10/aodh" % SECRETS["aodh_database_password"]
    assert conf.get("service_credentials", "password") == SECRETS["aodh_keystone_password"]
    assert aodh["catalog"]["type"] == "alarming" and aodh["catalog"]["port"] == 8042
    assert aodh["groups"]["service_aodh"]["units"] == ["aodh-api", "aodh-evaluator", "aodh-notifier", "aodh-listener"]


def test_zaqar_management_in_mariadb_messages_in_swift(more_services):
    zaqar = more_services["zaqar"]
    conf = ini(files_of(zaqar)["/etc/zaqar/zaqar.conf"]["content"])
    assert (conf.get("drivers", "message_store"), conf.get("drivers", "management_store")) == ("swift", "sqlalchemy")
    assert conf.get("drivers:management_store:sqlalchemy", "uri") == (
        "mysql+pymysql://zaqar:%s@172.16.2.10/zaqar" % SECRETS["zaqar_database_password"])
    assert conf.get("drivers:message_store:swift", "uri") == "swift://zaqar:%s@/service" % SECRETS["zaqar_keystone_password"]
    assert conf.get("drivers:message_store:swift", "interface") == "internalURL"
    assert files_of(zaqar)["/etc/zaqar/zaqar.conf"]["secret"]
    assert zaqar["catalog"]["type"] == "messaging" and zaqar["catalog"]["port"] == 8888
    assert zaqar["db_sync"]["commands"] == [["zaqar-sql-db-manage", "upgrade", "head"]]


def test_magnum_trustee_domain_clients_and_catalog(more_services):
    magnum = more_services["magnum"]
    files = files_of(magnum)
    conf = ini(files["/etc/magnum/magnum.conf"]["content"])
    assert conf.get("database", "connection") == (
        "mysql+pymysql://magnum:%s@172.16.2.10/magnum" % SECRETS["magnum_database_password"])
    # the domain the lifecycle makes is the one magnum.conf names, with the same password
    assert magnum["domain"] == {"name": "magnum", "admin": "magnum_domain_admin",
                                "password": SECRETS["magnum_domain_admin_password"]}
    assert (conf.get("trust", "trustee_domain_name"), conf.get("trust", "trustee_domain_admin_name"),
            conf.get("trust", "trustee_domain_admin_domain_name"), conf.get("trust", "trustee_domain_admin_password")) == (
        "magnum", "magnum_domain_admin", "magnum", SECRETS["magnum_domain_admin_password"])
    assert conf.get("keystone_auth", "password") == SECRETS["magnum_keystone_password"]
    assert conf.get("certificates", "cert_manager_type") == "x509keypair"
    # every service Magnum calls, on its internal endpoint; cluster servers (tenant networks) get public ones
    for client in ("heat", "glance", "nova", "neutron", "cinder", "barbican", "octavia"):
        assert conf.get(client + "_client", "endpoint_type") == "internalURL", client
        assert conf.get(client + "_client", "region_name") == "RegionOne", client
    assert conf.get("magnum_client", "endpoint_type") == "publicURL"
    assert conf.get("trust", "trustee_keystone_interface") == "public"
    assert files["/etc/magnum/magnum.conf"]["secret"]
    assert magnum["catalog"]["type"] == "container-infra" and magnum["catalog"]["path"] == "/v1"
    assert magnum["groups"]["service_magnum"]["units"] == ["magnum-api", "magnum-conductor"]
    assert "http-socket = 172.16.2.10:9511\n" in files["/etc/magnum/magnum-api-uwsgi.ini"]["content"]
    assert magnum["db_sync"]["commands"] == [["magnum-db-manage", "upgrade"]]


def test_without_ceilometer_the_files_have_no_notifications(heat):
    assert "oslo_messaging_notifications" not in files_of(heat)["/etc/heat/heat.conf"]["content"]


def test_heat_declares_its_stack_domain(heat):
    assert heat["domain"] == {"name": "heat", "admin": "heat_domain_admin",
                              "password": SECRETS["heat_domain_admin_password"],
                              "roles": ["heat_stack_owner", "heat_stack_user"]}


def test_trove_database_service_user_and_datastores_hook(more_services):
    trove = more_services["trove"]
    files = files_of(trove)
    conf = ini(files["/etc/trove/trove.conf"]["content"])
    assert conf.get("database", "connection") == "mysql+pymysql://trove:%s@172.16.2.10/trove" % SECRETS["trove_database_password"]
    assert (conf.get("service_credentials", "username"), conf.get("service_credentials", "password")) == (
        "trove", SECRETS["trove_keystone_password"])
    assert conf.get("DEFAULT", "nova_compute_endpoint_type") == "internalURL"
    assert trove["catalog"]["type"] == "database" and trove["catalog"]["path"] == "/v1.0/%(project_id)s"
    assert trove["groups"]["service_trove"]["units"] == ["trove-api", "trove-taskmanager", "trove-conductor"]
    uwsgi = files["/etc/trove/trove-api-uwsgi.ini"]["content"]
    assert "wsgi-file = /usr/lib/python3/dist-packages/trove/cmd/app_wsgi.py\n" in uwsgi
    assert "http-socket = 192.168.24.50:8779\n" in uwsgi
    assert trove["hooks"] == {"after_units": "datastores.yml"}


def test_trove_guests_get_the_bus_and_public_keystone_but_no_password(more_services):
    guest = files_of(more_services["trove"])["/etc/trove/trove-guestagent.conf"]
    assert (guest["group"], guest["mode"], guest["secret"], guest["restarts"]) == ("trove", "0640", True, [])
    conf = ini(guest["content"])
    # Trove's own account and vhost, for its services and its guests alike
    bus = "rabbit://trove:%s@172.16.2.10:5672/trove" % SECRETS["trove_rabbitmq_password"]
    assert conf.get("DEFAULT", "transport_url") == bus
    trove_conf = ini(files_of(more_services["trove"])["/etc/trove/trove.conf"]["content"])
    assert trove_conf.get("DEFAULT", "transport_url") == bus
    # the RPC keys are the deployment's own (Trove's defaults are public), and stay off the guests
    assert [trove_conf.get("DEFAULT", k) for k in ("taskmanager_rpc_encr_key", "inst_rpc_key_encr_key")] == [
        SECRETS["trove_taskmanager_rpc_encr_key"], SECRETS["trove_inst_rpc_key_encr_key"]]
    assert conf.get("service_credentials", "auth_url") == FACTS["overcloud_endpoints"]["keystone_public_url"] + "/v3"
    assert conf.get("service_credentials", "region_name") == FACTS["overcloud_endpoints"]["region"]
    assert not any(value in guest["content"] for name, value in SECRETS.items()
                   if name != "trove_rabbitmq_password")
