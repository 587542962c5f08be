"""Redfish BMCs in the three nodes-file formats: what each format spells, the node
they all make, and the inputs refused, each naming its field. No root, no network."""

import pytest

from fixtures import _load

nodes_file = _load("nodes_file", "plugins/module_utils/nodes_file.py")
load_nodes = nodes_file.load_nodes
NodesFileError = nodes_file.NodesFileError
SECRET = "pa55-w0rd"

WANTED = dict(driver="redfish", address="https://bmc-7.example.com:8443", port=8443, system_id="System.Embedded.1",
              username="root", password=SECRET, verify_ca="/etc/ssl/bmc-ca.pem")


def native(**bmc):
    base = dict(driver="redfish", address="https://BMC-7.example.com:8443", system_id="System.Embedded.1",
                username="root", password=SECRET, verify_ca="/etc/ssl/bmc-ca.pem")
    base.update(bmc)
    return {"nodes": [{"name": "compute-0", "bmc": dict((k, v) for k, v in base.items() if v is not None),
                       "macs": ["52:54:00:aa:00:01"]}]}


def instackenv(**fields):
    base = dict(name="compute-0", pm_type="redfish", pm_addr="https://bmc-7.example.com:8443",
                pm_system_id="/redfish/v1/Systems/System.Embedded.1", pm_user="root", pm_password=SECRET,
                redfish_verify_ca="/etc/ssl/bmc-ca.pem", mac=["52:54:00:aa:00:01"])
    base.update(fields)
    return {"nodes": [dict((k, v) for k, v in base.items() if v is not None)]}


def bifrost(**info):
    base = dict(redfish_address="https://bmc-7.example.com:8443", redfish_system_id="System.Embedded.1",
                redfish_username="root", redfish_password=SECRET, redfish_verify_ca="/etc/ssl/bmc-ca.pem")
    base.update(info)
    return {"compute-0": {"driver": "redfish", "driver_info": dict((k, v) for k, v in base.items() if v is not None),
                          "nics": [{"mac": "52:54:00:aa:00:01"}]}}


def fails(data, field, fragment):
    with pytest.raises(NodesFileError) as info:
        load_nodes(data)
    exc = info.value
    assert (exc.node, exc.field) == ("compute-0", field), str(exc)
    assert fragment in str(exc), str(exc)
    assert SECRET not in str(exc)
    return exc


@pytest.mark.parametrize("data", [native(), instackenv(), bifrost()], ids=["native", "instackenv", "bifrost"])
def test_the_three_formats_make_one_redfish_bmc(data):
    assert load_nodes(data)[0]["bmc"] == WANTED


def test_defaults_a_bare_host_means_https_and_the_systems_only_one():
    bmc = load_nodes(native(address="192.0.2.30", system_id=None, verify_ca=None))[0]["bmc"]
    assert bmc == dict(driver="redfish", address="https://192.0.2.30", port=443, system_id=None, username="root",
                       password=SECRET, verify_ca=True)
    bmc = load_nodes(native(address="http://[FD00::30]:8000", verify_ca=False, system_id=1))[0]["bmc"]
    assert (bmc["address"], bmc["port"], bmc["system_id"], bmc["verify_ca"]) == \
        ("http://[fd00::30]:8000", 8000, "1", False)


def test_the_ipmi_forms_are_unchanged():
    bmc = load_nodes({"nodes": [{"name": "compute-0", "pm_addr": "192.0.2.20", "pm_user": "a", "pm_password": "b",
                                 "mac": ["52:54:00:aa:00:01"]}]})[0]["bmc"]
    assert bmc == dict(driver="ipmi", address="192.0.2.20", port=623, username="a", password="b")


def test_systems_of_one_bmc_are_nodes_of_their_own_but_one_system_is_one_node():
    def two(first, second):
        data = native(system_id=first)
        other = dict(data["nodes"][0], name="compute-1", macs=["52:54:00:aa:00:02"])
        other["bmc"] = dict(other["bmc"], system_id=second)
        data["nodes"].append(other)
        return data
    assert len(load_nodes(two("a", "b"))) == 2, "an emulator or chassis manager serves several systems"
    with pytest.raises(NodesFileError) as info:
        load_nodes(two("a", "/redfish/v1/Systems/a"))
    assert (info.value.node, info.value.field) == ("compute-1", "bmc.address"), str(info.value)
    assert "Redfish BMC https://bmc-7.example.com:8443 system a is also used by node 'compute-0'" in str(info.value)


NATIVE_REFUSED = [
    (dict(address="ftp://bmc-7.example.com"), "bmc.address", "'ftp': the scheme must be https"),
    (dict(address="https://root:%s@bmc-7.example.com" % SECRET), "bmc.address", "holds credentials"),
    (dict(address="https://root@bmc-7.example.com"), "bmc.address", "holds credentials"),
    (dict(address="https://bmc-7.example.com/redfish/v1"), "bmc.address", "has a path"),
    (dict(address="https://bmc-7.example.com?x=1"), "bmc.address", "has a path"),
    (dict(address="https://bmc-7.example.com:0"), "bmc.address", "the port '0' is not a number from 1 to 65535"),
    (dict(address="https://bmc-7.example.com:http"), "bmc.address", "is not a number from 1 to 65535"),
    (dict(address="https://0.0.0.0"), "bmc.address", "is the unspecified address"),
    (dict(address="https://224.0.0.1"), "bmc.address", "is a multicast address"),
    (dict(address="https://bmc_7"), "bmc.address", "'bmc_7' is not an IP address or host name"),
    (dict(address="https://fd00::1"), "bmc.address", "an IPv6 address goes in brackets"),
    (dict(address="https://[bmc-7]"), "bmc.address", "only an IPv6 address goes in brackets"),
    (dict(address="https://"), "bmc.address", "is empty"),
    (dict(address=None), "bmc.address", "missing; give the URL of the node's Redfish BMC"),
    (dict(port=443), "bmc.port", "443 differs from the port 8443 in the address"),
    (dict(system_id="a/b"), "bmc.system_id", "'a/b' is not a Redfish system id"),
    (dict(system_id="/redfish/v1/Systems/"), "bmc.system_id", "is not a Redfish system id"),
    (dict(system_id="/redfish/v1/Chassis/1"), "bmc.system_id", "is not a Redfish system id"),
    (dict(system_id=".."), "bmc.system_id", "is not a Redfish system id"),
    (dict(verify_ca="certs/ca.pem"), "bmc.verify_ca", "is neither true, false nor an absolute path"),
    (dict(verify_ca=3), "bmc.verify_ca", "is a number"),
    (dict(username=None), "bmc.username", "missing"),
    (dict(username="x" * 256), "bmc.username", "at most 255"),
    (dict(password=None), "bmc.password", "missing"),
    (dict(password="bad\n" + SECRET), "bmc.password", "holds a control character"),
    (dict(driver="idrac"), "bmc.driver", "'idrac' is not supported"),
    (dict(driver="ipmi"), "bmc.system_id", "is for a Redfish BMC; set bmc.driver: redfish"),
    (dict(driver=None, system_id=None, verify_ca=None), "bmc.address", "is a URL, which an IPMI BMC has not"),
]


@pytest.mark.parametrize("bmc, field, fragment", NATIVE_REFUSED)
def test_native_refusals_name_the_field(bmc, field, fragment):
    fails(native(**bmc), field, fragment)


INSTACKENV_REFUSED = [
    (dict(pm_addr="gopher://bmc-7"), "pm_addr", "the scheme must be https"),
    (dict(pm_addr="https://u:%s@bmc-7" % SECRET), "pm_addr", "holds credentials"),
    (dict(pm_addr="https://bmc-7/redfish/v1/Systems/1"), "pm_addr", "the system goes in system_id"),
    (dict(pm_addr="https://255.255.255.255"), "pm_addr", "is the broadcast address"),
    (dict(pm_port="444"), "pm_port", "444 differs from the port 8443 in the address"),
    (dict(pm_port=70000), "pm_port", "70000 is not a port number"),
    (dict(pm_system_id="a b"), "pm_system_id", "is not a Redfish system id"),
    (dict(redfish_verify_ca="relative.pem"), "redfish_verify_ca", "is neither true, false nor an absolute path"),
    (dict(pm_user=None), "pm_user", "missing"),
    (dict(pm_password=None), "pm_password", "missing"),
    (dict(pm_type="ipmi", pm_addr="192.0.2.5"), "pm_system_id", "is for a Redfish BMC, and pm_type is 'ipmi'"),
]


@pytest.mark.parametrize("fields, field, fragment", INSTACKENV_REFUSED)
def test_instackenv_refusals_name_the_field(fields, field, fragment):
    fails(instackenv(**fields), field, fragment)


BIFROST_REFUSED = [
    (dict(redfish_address="smb://bmc-7"), "driver_info.redfish_address", "the scheme must be https"),
    (dict(redfish_address="https://a:%s@bmc-7" % SECRET), "driver_info.redfish_address", "holds credentials"),
    (dict(redfish_address=None), "driver_info.redfish_address", "missing"),
    (dict(redfish_address="https://10.0.0.256"), "driver_info.redfish_address", "is not an IP address or host name"),
    (dict(redfish_system_id="/redfish/v1/Systems/a/b"), "driver_info.redfish_system_id",
     "is not a Redfish system id"),
    (dict(redfish_verify_ca="maybe"), "driver_info.redfish_verify_ca", "is neither true, false nor an absolute"),
    (dict(redfish_username=None), "driver_info.redfish_username", "missing"),
    (dict(redfish_password=None), "driver_info.redfish_password", "missing"),
]


@pytest.mark.parametrize("info, field, fragment", BIFROST_REFUSED)
def test_bifrost_refusals_name_the_field(info, field, fragment):
    fails(bifrost(**info), field, fragment)


def test_bifrost_redfish_fields_with_an_ipmi_driver_are_refused():
    data = bifrost(ipmi_address="192.0.2.5", ipmi_username="a", ipmi_password="b")
    data["compute-0"]["driver"] = "ipmi"
    fails(data, "driver_info.redfish_address", "is for a Redfish BMC, and driver is 'ipmi'")
