"""Which backup a restore takes and which ones retention removes (plugins/filter/
backups.py): only complete backups (named by their UTC start time, never .partial)
are restored; retention keeps the newest and the one just made."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackwright.cloud.plugins.filter.backups import backup_prune, backup_select

ENTRIES = ["20261204T010000Z", "20261206T010000Z", "20261205T010000Z", "20261206T020000Z.partial",
           "lost+found", "20261207T010000Z.old"]


def test_latest_is_the_newest_complete_backup():
    assert backup_select(ENTRIES) == "20261206T010000Z"
    assert backup_select(ENTRIES, "latest") == "20261206T010000Z"
    assert backup_select(ENTRIES, "20261204T010000Z") == "20261204T010000Z"


@pytest.mark.parametrize("entries,wanted,said", [
    ([], "latest", "there is no complete backup"),
    (["20261206T020000Z.partial"], "latest", "there is no complete backup"),
    (ENTRIES, "20261206T020000Z", "there is no complete backup 20261206T020000Z; there are: 20261204T010000Z"),
    (ENTRIES, "../20261204T010000Z", "is not a backup's name"),
    (ENTRIES, "20261204T010000Z.partial", "is not a backup's name"),
    (ENTRIES, "20261204T010000Z\n", "is not a backup's name"),
    (ENTRIES, 5, "is not a backup's name"),
])
def test_a_backup_that_is_not_there_or_not_whole_is_refused(entries, wanted, said):
    with pytest.raises(AnsibleFilterError, match=said.replace(".", "[.]").replace("+", "[+]")):
        backup_select(entries, wanted)


def test_retention_keeps_the_newest_and_the_one_just_made():
    # three complete before, one just made: keep 2 = the new one and the newest before it
    names = ENTRIES + ["20261208T000000Z"]
    assert backup_prune(names, 2, "20261208T000000Z") == [
        "20261204T010000Z", "20261205T010000Z", "20261206T020000Z.partial"]
    assert backup_prune(names, 1, "20261208T000000Z") == [
        "20261204T010000Z", "20261205T010000Z", "20261206T010000Z", "20261206T020000Z.partial"]
    assert backup_prune(names, 10, "20261208T000000Z") == ["20261206T020000Z.partial"]
    # the one being written now is never taken for a leftover
    assert backup_prune(["20261208T000000Z.partial"], 3, "20261208T000000Z") == []
    # an older name than every other one, just made (a clock set back): still kept
    assert "20200101T000000Z" not in backup_prune(names + ["20200101T000000Z"], 1, "20200101T000000Z")


@pytest.mark.parametrize("keep", [0, -1, "x", None, "1.5"])
def test_keeping_no_backup_is_refused(keep):
    with pytest.raises(AnsibleFilterError, match="backup_keep: keep at least 1"):
        backup_prune(ENTRIES, keep)
