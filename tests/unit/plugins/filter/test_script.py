"""last_json: the roles read their helper scripts' results with it; a warning, a merged
traceback or a line that only looks like JSON before or after the result is not it."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackwright.cloud.plugins.filter.script import last_json


def test_the_last_object_line_is_the_result():
    lines = ["/usr/lib/python3/dist-packages/x.py:1: Warning {not json}", '{"changed": false}',
             '{"changed": true, "msg": "rebalanced"}', "Traceback (most recent call last):", "  {broken"]
    assert last_json(lines) == {"changed": True, "msg": "rebalanced"}


def test_lines_that_only_look_like_a_result_are_skipped():
    assert last_json(['{"ok": true}', "{not: json}", "[1, 2]", '"{}"', "  "]) == {"ok": True}


def test_no_result_gives_the_default():
    assert last_json([]) == {}
    fallback = {"ok": False, "detail": "warning only"}
    assert last_json(["warning only"], fallback) == fallback


@pytest.mark.parametrize("value", ["{\"a\": 1}", None, 5])
def test_not_lines_is_refused(value):
    with pytest.raises(AnsibleFilterError, match="expects a list of lines"):
        last_json(value)
