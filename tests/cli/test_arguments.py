"""The command line checked before anything runs: each bad argument is an error
that names the argument and the rule, exit 2, no run started or recorded; what
is accepted reaches Ansible whole, as JSON."""

import json
import os

import pytest

from stackwright_cli import main as cli_main
from stackwright_cli import runner

HOSTILE_NAMES = ["", " ", "a b=c", "compute0\n", "Compute0", "compute-", "a;reboot", "$(id)", "a,b",
                 "x\x1b[2J", "a" * 64, "{{ lookup('pipe', 'id') }}", "../etc", "a\tb"]

BAD = [(["node", "provision", name], "NAME '") for name in HOSTILE_NAMES] + [
    (["node", "provision", "compute0", ""], "NAME '': a node name is"),
    (["node", "remove", "a b=c"], "NAME 'a b=c': a node name is"),
    (["node", "abort", "a;reboot"], "NAME 'a;reboot': a node name is"),
    (["overcloud", "scale-in", "node=compute1"], "NAME 'node=compute1'"),
    (["overcloud", "scale-out", ""], "never means all nodes"),
    (["overcloud", "deploy", "-e", "novalue"], "-e 'novalue': give KEY=VALUE"),
    (["overcloud", "deploy", "-e", "a=1 b"], "-e 'a=1 b': give KEY=VALUE"),
    (["overcloud", "deploy", "-e", ""], "-e '': give KEY=VALUE"),
    (["overcloud", "deploy", "-e", "=v"], "-e '=v': give KEY=VALUE"),
    (["overcloud", "deploy", "-e", "bad-name=1"], "'bad-name': a variable name is"),
    (["overcloud", "deploy", "-e", "{1: 2}"], "'1': a variable name is"),
    (["overcloud", "deploy", "-e", '{"a b": 1}'], "'a b': a variable name is"),
    (["overcloud", "deploy", "-e", "[1, 2]"], "not a mapping of variable names"),
    (["overcloud", "deploy", "-e", "{unclosed: ["], "not a JSON or YAML mapping"),
    (["overcloud", "deploy", "-e", "k='unbalanced"], "unbalanced quotes"),
    (["overcloud", "deploy", "-e", "k=a\x1bb"], "no control characters"),
    (["overcloud", "deploy", "-e", "@missing.yml"], "no such file"),
    (["overcloud", "deploy", "-e", "@LIST"], "not a mapping of variable names"),
    (["node", "list", "--limit", "a b"], "--limit 'a b': one word"),
    (["node", "list", "--limit", ""], "--limit '': one word"),
    (["node", "list", "--tags", "x\ny"], "--tags 'x\\x0ay': one word"),
    (["node", "list", "--skip-tags", "a b"], "--skip-tags 'a b': one word"),
    (["-i", "", "node", "list"], "--inventory '': a path"),
    (["--runs-dir", "runs\x1b[2J", "node", "list"], "--runs-dir 'runs\\x1b[2J': a path"),
    (["node", "import", ""], "FILE '': a path"),
    (["node", "import", "nodes\n.yml"], "FILE 'nodes\\x0a.yml': a path"),
    (["runs", "show", "../x"], "RUN '../x': a run id"),
    (["runs", "show", ""], "RUN '': a run id"),
    (["overcloud", "restore", "../20261206T153000Z"], "BACKUP '../20261206T153000Z': a backup's name"),
    (["overcloud", "restore", "20261206T153000Z;id"], "BACKUP '20261206T153000Z;id'"),
    (["overcloud", "restore", ""], "BACKUP '': a backup's name"),
    (["overcloud", "restore", "newest"], "or 'latest'"),
    (["undercloud", "restore", "../20261206T153000Z"], "BACKUP '../20261206T153000Z': a backup's name"),
    (["undercloud", "restore", "20261206T153000Z.partial"], "BACKUP '20261206T153000Z.partial'"),
    (["undercloud", "restore", ""], "BACKUP '': a backup's name"),
    (["undercloud", "restore", "x\x1b[2J"], "BACKUP 'x\\x1b[2J'"),
]


@pytest.mark.parametrize("argv,said", BAD, ids=[repr(" ".join(a))[:60] for a, _ in BAD])
def test_bad_arguments_are_refused_before_anything_runs(tmp_path, capsys, monkeypatch, argv, said):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "LIST").write_text("- a\n- b\n")
    runs = tmp_path / "runs"
    # an inventory that is not there: were an argument let through, the command stops there, not in a run
    code = cli_main.main(["--runs-dir", str(runs), "-i", str(tmp_path / "no-inventory")] + argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("stackwright: ") and said in err, err
    assert "\x1b" not in err and "\n" not in err.rstrip("\n"), "the value shown escaped, on one line"
    assert not runs.exists(), "nothing started, nothing recorded"


def test_a_refused_secret_is_not_echoed(tmp_path, capsys):
    code = cli_main.main(["--runs-dir", str(tmp_path), "overcloud", "deploy", "-e", "bmc_password='hunter2xyz"])
    assert code == 2
    assert "hunter2xyz" not in capsys.readouterr().err


def parsed(*words):
    args = cli_main.build_parser().parse_args(["overcloud", "deploy"] + [w for word in words for w in ("-e", word)])
    assert cli_main.check_arguments(args) is None
    return args


def test_accepted_values_reach_ansible_whole_as_json(tmp_path):
    vars_file = tmp_path / "site.yml"
    # as an operator writes one: a vault-encrypted and an unsafe value among plain ones
    vars_file.write_text("motd: hello b=c\nntp: [a, b]\nraw: !unsafe '{{ x }}'\n"
                         "ipmi_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6131\n")
    args = parsed("region=one label='a b=c'", '{"banner": "x y=z", "n": 2}', "{yaml_style: 'p q'}",
                  "@%s" % vars_file)
    assert {"motd", "ntp", "raw", "ipmi_password"} <= args.extra_names
    assert args.extra_sources == [{"region": "one", "label": "a b=c"}, {"banner": "x y=z", "n": 2},
                                  {"yaml_style": "p q"}, str(vars_file)]
    out = runner.extra_vars_options(str(tmp_path), args.extra_sources + [{"provision_nodes": "compute0"}])
    # only -e @FILE words: nothing Ansible would split on spaces
    assert out[0::2] == ["-e"] * 5 and all(w.startswith("@") for w in out[1::2])
    assert out[7] == "@%s" % vars_file
    loaded = [json.load(open(w[1:])) for i, w in enumerate(out[1::2]) if i != 3]
    assert loaded == [{"region": "one", "label": "a b=c"}, {"banner": "x y=z", "n": 2}, {"yaml_style": "p q"},
                      {"provision_nodes": "compute0"}]
    assert all(os.stat(w[1:]).st_mode & 0o077 == 0 for w in out[1::2] if w[1:] != str(vars_file))


@pytest.mark.parametrize("words,wanted", [([], "latest"), (["latest"], "latest"),
                                          (["20261206T153000Z"], "20261206T153000Z")])
@pytest.mark.parametrize("group,playbook,variable", [("overcloud", "restore", "backup_restore"),
                                                     ("undercloud", "undercloud-restore", "undercloud_backup_restore")])
def test_restore_passes_the_backup_it_names(words, wanted, group, playbook, variable):
    args = cli_main.build_parser().parse_args([group, "restore"] + words)
    assert cli_main.check_arguments(args) is None
    verb = next(v for v in cli_main.VERBS if v.words == group + " restore")
    (restore,) = verb.phases(None, args)
    assert restore.playbook == "playbooks/%s.yml" % playbook and restore.extravars == {variable: wanted}


@pytest.mark.parametrize("words,extravars", [([], {}), (["--images"], {"undercloud_backup_images": True})])
def test_undercloud_backup_copies_the_images_only_when_asked(words, extravars):
    args = cli_main.build_parser().parse_args(["undercloud", "backup"] + words)
    assert cli_main.check_arguments(args) is None
    verb = next(v for v in cli_main.VERBS if v.words == "undercloud backup")
    (backup,) = verb.phases(None, args)
    assert backup.playbook == "playbooks/undercloud-backup.yml" and backup.extravars == extravars
