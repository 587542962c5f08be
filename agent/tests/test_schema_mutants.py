"""The agent's request schema (schema.py) field by field, called directly (no agent,
no root): each check's boundary, the path it names and the words it uses. The
behaviours a mutation run (tools/mutation.py) found no test for."""

import pytest

from stackwright_agent import schema as s
from stackwright_agent.errors import InvalidField


def refused(field, value, path="f"):
    with pytest.raises(InvalidField) as info:
        field.check(value, path)
    return info.value.field, str(info.value)


def test_str_checks_type_length_controls_and_pattern():
    f = s.Str(max_len=5, pattern=r"[a-z]+", hint="use small letters")
    assert f.check("abcde", "f") == "abcde"
    assert refused(f, 5) == ("f", "f: expected a string, got int")
    assert refused(f, "abcdef") == ("f", "f: 'abcdef' is 6 characters long; at most 5 are allowed")
    assert refused(f, "ab\x1bc")[1] == "f: 'ab\\x1bc' holds a control character (an escape code); use small letters"
    assert refused(f, "abc\n")[1] == "f: 'abc\\n' is not valid; use small letters", "matched whole"
    assert refused(s.Str(pattern=r"[a-z]+"), "A")[1] == "f: 'A' is not valid"
    free = s.Str()
    assert free.check("tab\tand\nnewline", "f") == "tab\tand\nnewline", "free text keeps tab and newline"
    assert refused(free, "\x7f")[1] == "f: '\\x7f' holds a control character (an escape code)"
    assert refused(free, "\x9b")[0] == "f" and refused(free, "\x00")[0] == "f"
    assert free.check("x" * 10000, "f"), "no length limit unless asked"


def test_int_and_bool_and_enum():
    f = s.Int(minimum=1, maximum=4094)
    assert f.check(1, "v") == 1 and f.check(4094, "v") == 4094
    assert refused(f, 0, "v")[1] == "v: 0 is below the minimum 1"
    assert refused(f, 4095, "v")[1] == "v: 4095 is above the maximum 4094"
    assert refused(f, True, "v")[1] == "v: expected an integer, got True"
    assert refused(f, "3", "v")[1] == "v: expected an integer, got '3'"
    assert refused(f, 2.0, "v")[0] == "v"
    assert s.Int().check(-10 ** 12, "v") == -10 ** 12
    assert s.Bool().check(False, "b") is False
    assert refused(s.Bool(), 0, "b")[1] == "b: expected true or false, got 0"
    assert refused(s.Bool(), "true", "b")[0] == "b"
    e = s.Enum("on", "off", 3)
    assert e.check(3, "e") == 3
    assert refused(e, "ON", "e")[1] == "e: 'ON' is not one of on, off, 3"


def test_cidr_and_ip():
    c = s.Cidr()
    assert c.check("10.0.0.1/24", "a") == "10.0.0.1/24"
    assert c.check("2001:DB8::0001/64", "a") == "2001:db8::1/64", "normalized"
    assert refused(c, 5, "a")[1] == "a: expected an address like 10.0.0.1/24"
    assert refused(c, "10.0.0.300/24", "a")[1] == \
        "a: '10.0.0.300/24' is not an address with a prefix length, like 10.0.0.1/24"
    assert refused(c, "10.0.0.1", "a")[1] == "a: '10.0.0.1' has no prefix length; write it like 10.0.0.1/24"
    assert refused(c, "127.0.0.1/8", "a")[1].startswith("a: '127.0.0.1/8': ") and "loopback" in refused(
        c, "127.0.0.1/8", "a")[1]
    assert refused(c, "10.0.0.1/0", "a")[0] == "a", "a network covering everything"
    ip = s.Ip()
    assert ip.check("2001:DB8::10", "b") == "2001:db8::10"
    assert refused(ip, None, "b")[1] == "b: expected an IP address, got NoneType"
    assert refused(ip, "fe80::1%eth0", "b")[1] == \
        "b: 'fe80::1%eth0' is not an IP address; write it like 192.0.2.10 or 2001:db8::10"
    assert refused(ip, "192.0.2", "b")[0] == "b"
    assert "loopback" in refused(ip, "127.0.0.1", "b")[1]
    assert s.Ip(loopback=True).check("127.0.0.1", "b") == "127.0.0.1"
    for special in ("0.0.0.0", "::", "224.0.0.1", "255.255.255.255"):
        assert refused(s.Ip(loopback=True), special, "b")[1].startswith("b: %s: " % special)


def test_path_is_absolute_plain_and_normalized():
    p = s.Path()
    assert p.check("/a//b/./c/", "p") == "/a/b/c"
    assert p.check("//srv", "p") == "/srv", "normpath's leading '//' is one '/'"
    assert p.check("//Xen/a", "p") == "/Xen/a"
    assert refused(p, "a/b", "p")[1] == \
        "p: 'a/b' is not an absolute path; give an absolute path like /var/lib/images/a.qcow2"
    assert refused(p, "/a/../etc", "p")[1] == "p: '/a/../etc' has a '..' component; give the path without it"
    assert p.check("/a/..b/c..", "p") == "/a/..b/c..", "only a whole '..' component"
    assert refused(p, "/a\nb", "p")[0] == "p"
    assert refused(p, "/" + "a" * 4096, "p")[1].endswith("4097 characters long; at most 4096 are allowed")
    assert s.Path(max_len=10, hint="a short one").hint == "a short one"
    assert refused(s.Path(max_len=10, hint="a short one"), "x", "p")[1] == "p: 'x' is not an absolute path; a short one"


def test_mac_is_lowered():
    m = s.Mac()
    assert m.check("52:54:00:AB:CD:EF", "m") == "52:54:00:ab:cd:ef"
    for bad in ("52:54:00:ab:cd", "52-54-00-ab-cd-ef", "52:54:00:ab:cd:eg", "52:54:00:ab:cd:ef\n"):
        assert refused(m, bad, "m")[1].endswith("is not valid; write it like 52:54:00:12:34:56"), bad


def test_list_checks_items_count_and_repeats():
    macs = s.List(s.Mac(), min_items=1, unique=True)
    assert macs.check(["52:54:00:00:00:01", "52:54:00:00:00:02"], "macs") == ["52:54:00:00:00:01", "52:54:00:00:00:02"]
    assert refused(macs, "52:54:00:00:00:01", "macs")[1] == "macs: expected a list, got str"
    assert refused(macs, [], "macs")[1] == "macs: needs at least 1 item(s)"
    assert refused(macs, ["52:54:00:00:00:01", "x"], "macs")[0] == "macs[1]"
    # a repeat after normalizing: the same MAC in two spellings
    assert refused(macs, ["52:54:00:00:00:0a", "52:54:00:00:00:01", "52:54:00:00:00:0A"], "macs") == (
        "macs[2]", "macs[2]: '52:54:00:00:00:0a' is listed twice")
    assert s.List(s.Int()).check([1, 1], "n") == [1, 1], "repeats allowed unless unique"
    assert s.List(s.Int(), unique=True).check([1, 2], "n") == [1, 2]
    assert s.List(s.Obj({"a": s.Int()}), unique=True).check([{"a": 1}, {"a": 2}], "o") == [{"a": 1}, {"a": 2}]
    assert refused(s.List(s.Obj({"a": s.Int()}), unique=True), [{"a": 1}, {"a": 1}], "o")[0] == "o[1]"


def test_obj_fields_defaults_and_unknown_names():
    o = s.Obj({"name": s.Str(required=True), "port": s.Int(default=623), "tags": s.List(s.Str(), default=list),
               "sub": s.Obj({"x": s.Bool(default=False)})})
    out = o.check({"name": "a", "port": None})
    assert out == {"name": "a", "port": 623, "tags": [], "sub": None}, "null is missing: the default"
    assert o.check({"name": "a"})["tags"] is not o.check({"name": "b"})["tags"], "a fresh default each time"
    with pytest.raises(InvalidField) as info:
        o.check({"name": "a", "prot": 1})
    assert info.value.field == "prot" and str(info.value) == "prot: unknown field; did you mean 'port'?"
    with pytest.raises(InvalidField) as info:
        o.check({"name": "a", "zzz": 1})
    assert str(info.value) == "zzz: unknown field; known fields: name, port, sub, tags"
    with pytest.raises(InvalidField) as info:
        o.check({"port": 1})
    assert str(info.value) == "name: is required"
    with pytest.raises(InvalidField) as info:
        o.check({"name": "a", "sub": {"y": True}})
    assert info.value.field == "sub.y"
    with pytest.raises(InvalidField) as info:
        o.check({"name": "a", "sub": {"x": 1}})
    assert info.value.field == "sub.x"
    with pytest.raises(InvalidField) as info:
        o.check([])
    assert str(info.value) == "body: expected an object, got list"
    with pytest.raises(InvalidField) as info:
        o.check({"name": "a", "sub": "x"})
    assert str(info.value) == "sub: expected an object, got str"


@pytest.mark.parametrize("field, good, bad", [
    (s.IFNAME, ["eth0", "br-ex.10", "a" * 15, "v@x+y", "..a"], [".", "..", "a" * 16, "eth 0", "eth/0", "eth:0", ""]),
    (s.NETNS, ["swlab", "ns.1", "a" * 64, "..b"], [".", "..", "a" * 65, "a/b", "a b", "ns\n"]),
    (s.NAME, ["n1", "A.b-c_d+e", "9" * 64], ["-n", ".n", "_n", "a" * 65, "n 1", "n\n", "n/1", ""]),
])
def test_the_name_patterns(field, good, bad):
    for value in good:
        assert field.check(value, "x") == value
    for value in bad:
        assert refused(field, value, "x")[0] == "x", value


def test_every_refusal_says_what_to_give():
    assert refused(s.NETNS, "a/b", "netns")[1] == (
        "netns: 'a/b' is not valid; use a network namespace name as 'ip netns' lists it: letters, digits, '-', "
        "'_' or '.', not '.' or '..'")
    assert refused(s.IFNAME, "a" * 16, "name")[1].endswith("at most 15 are allowed")
    assert refused(s.NAME, "-x", "name")[1] == (
        "name: '-x' is not valid; start with a letter or digit; then letters, digits, '-', '_', '.', '+'")
