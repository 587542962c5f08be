# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stackwright command: the collection's playbooks as verbs, run through
ansible-runner, with live progress, a summary and every run's events kept."""

__version__ = "0.1.0"
