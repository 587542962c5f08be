"""The undercloud's conductor: it drives a bare-metal node of the registry through its
states to where an action asks, end to end, as Ironic's conductor does.

An action (``PUT /v1/nodes/<name>`` with ``provision_action``; ``ACTIONS`` says what
each wants) is stored on the node as its ``target``: ``{"action", "status": running,
"started_at", ...}``. A worker thread per node then takes the node one step at a time
(``next_step``: the step order lives here and nowhere else), each step ending in a
registry write with a history row, so the record says what happened and when:

``verify``  the BMC answers (power state read)              enrolled  -> verified
``inspect`` the ramdisk reports the hardware                verified  -> inspected
``clean``   the ramdisk wipes the disks                     *         -> cleaning -> available
``deploy``  the ramdisk writes the image; boot from disk;   available -> deploying -> active
            SSH answers on the node's address
``adopt``   a node without a BMC: SSH answers               enrolled  -> active

A ramdisk step arms the ramdisk (a fresh token), boots it (power off, one-time PXE,
power on), waits for its report - failing when the node never asks for its iPXE script
within the PXE timeout, when the BMC says off at two checks in a row, or when the
phase's timeout passes - and makes sure the node is off after it.

The target ends ``done`` or ``failed`` (the node failed, ``last_error`` "<step>: why",
the ramdisk disarmed so that a late report cannot land). ``abort`` fails a running
action at its next check. Clients wait for the target's status and never name a state.

Between actions the conductor reads every idle node's power state from its BMC, one
node after another, every ``power_sync_interval`` seconds (Ironic's power-state sync),
so that a node switched on or off outside Stackwright (its BMC's web page, a power
cut) reads as it is, and a power action asked of it is not answered "nothing to do"
from a stale record. A BMC that stops answering is logged once and asked less and less
often (after 1, 2, 4 ... 32 sweeps).

The target is in the registry, so a conductor that restarts (the undercloud service
restarted, the host rebooted) resumes every running action where it was: a ramdisk
step whose action is still armed goes back to waiting for it, without a new boot, so
a ramdisk that reports meanwhile (it retries) is not lost.
"""

import logging
import socket
import threading
import time

from . import bmc as bmcs
from .errors import Conflict, InvalidField
from .registry import new_token

LOG = logging.getLogger("stackwright-agent.conductor")

# action -> (what it needs, the states it may start from; None: any)
ACTIONS = {
    # the whole way to active (a node without a BMC: adopted once SSH answers)
    "deploy": ("image", None),
    # verify, inspect and clean: ready for a deploy
    "provide": (None, ("enrolled", "verified", "inspected", "cleaning", "available", "failed")),
    "inspect": ("bmc", ("enrolled", "verified", "available", "inspected", "failed")),
    # an active (or failed) node cleaned back to available, and powered off
    "undeploy": ("bmc", ("active", "failed", "inspected", "cleaning", "available")),
    "power_on": ("bmc", None),
    "power_off": ("bmc", None),
    "abort": (None, None),
}
# the timeouts an action may carry (seconds, at least 1; 0 for pxe waits the whole phase)
TIMEOUTS = {"pxe": 300, "inspect": 600, "clean": 600, "deploy": 1800, "boot": 600, "poweroff": 120,
            "power": 300}
# the actions that clean on their way, and so take a clean_mode (node_schema.CLEAN_MODES: metadata,
# the edges of every disk and partition, seconds; full, every byte, hours on large disks)
CLEANING = ("deploy", "provide", "undeploy")
# actions that move no provision state: their end leaves it as it is
POWER_ACTIONS = ("power_on", "power_off")
# a target in these states still has a worker to finish it
BUSY = ("running", "aborting")
POLL = 2
POWER_WATCH = 15


class StepFailed(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Aborted(StepFailed):
    pass


def next_step(action, node):
    """The step that takes ``node`` on towards what ``action`` wants; None when it is there."""
    state, power = node["provision_state"], node["power_state"]
    has_bmc = bool(node.get("bmc_address"))
    if action == "power_on":
        return None if power == "on" else "power_on"
    if action == "power_off":
        return None if power == "off" else "power_off"
    if state == "failed" and action in ("deploy", "provide", "inspect"):
        return "start_over"
    target = node.get("target") or {}
    if (action in CLEANING and state == "available" and has_bmc and target.get("clean_mode")
            and not target.get("cleaned")):
        return "clean"  # a clean asked for by name runs, though the node is clean already
    if action == "deploy" and not has_bmc:
        return None if state == "active" else "adopt"
    if action == "undeploy":
        if state == "available":
            return None if power == "off" else "power_off"
        return "clean"
    chain = {"enrolled": "verify", "verified": "inspect", "inspected": "clean", "cleaning": "clean",
             "available": "deploy", "deploying": "deploy"}
    goal = {"deploy": "active", "provide": "available", "inspect": "inspected"}[action]
    if state == goal:
        return None
    if action == "inspect" and state == "available":
        return "verify"
    return chain.get(state)


def check_action(name, row, request):
    """Refuse (InvalidField, Conflict) an action ``request`` the node ``row`` cannot take;
    else the target to store (None: nothing to do, the node is there or doing it)."""
    action = request["action"]
    needs, starts = ACTIONS[action]
    status = ((row or {}).get("target") or {}).get("status")
    if row is None:
        raise Conflict("provision_action: node %r is not enrolled" % name, field="provision_action")
    if action == "abort":
        return dict(row["target"], status="aborting") if status == "running" else None
    if status == "aborting":
        raise Conflict("provision_action: node %r is stopping its %s (aborted); ask again in a moment"
                       % (name, row["target"]["action"]), field="provision_action")
    if status == "running":
        if row["target"]["action"] == action:
            if request.get("clean_mode") and request["clean_mode"] != row["target"].get("clean_mode"):
                raise Conflict("provision_action.clean_mode: node %r is running its %s with clean_mode %s; wait "
                               "for it, or abort it first" % (name, action, row["target"].get("clean_mode")
                                                              or "of the node"), field="provision_action.clean_mode")
            return None  # asked again (a re-run, a run after a killed one): the same action goes on
        raise Conflict("provision_action: node %r is busy with %s since %s; wait for it, or abort it first"
                       % (name, row["target"]["action"], time.strftime("%H:%M:%S", time.localtime(
                           row["target"]["started_at"]))), field="provision_action")
    if needs == "bmc" and not row.get("bmc_address"):
        raise Conflict("provision_action: node %r has no BMC (it is pre-provisioned): %s needs one"
                       % (name, action), field="provision_action")
    if needs == "image" and row.get("bmc_address"):
        for field in ("image_url", "image_sha256"):
            if not request.get(field):
                raise InvalidField("provision_action." + field, "is required for a deploy")
    if request.get("clean_mode") and action not in CLEANING:
        raise InvalidField("provision_action.clean_mode", "applies to %s (the actions that clean), not %s"
                           % (", ".join(CLEANING), action))
    if starts is not None and row["provision_state"] not in starts:
        hint = "; undeploy it first" if row["provision_state"] == "active" else ""
        raise Conflict("provision_action: node %r is %s; %s starts from %s%s"
                       % (name, row["provision_state"], action, ", ".join(starts), hint), field="provision_action")
    if next_step(action, dict(row, target={"clean_mode": request.get("clean_mode")})) is None:
        if request.get("clean_mode"):
            raise Conflict("provision_action.clean_mode: node %r is %s%s: its %s cleans nothing now%s"
                           % (name, row["provision_state"], "" if row.get("bmc_address") else " without a BMC",
                              action, "; undeploy it with clean_mode" if row["provision_state"] == "active" else ""),
                           field="provision_action.clean_mode")
        return None
    timeouts = dict(TIMEOUTS, **{k: v for k, v in (request.get("timeouts") or {}).items() if v is not None})
    target = {"action": action, "status": "running", "started_at": round(time.time(), 3), "timeouts": timeouts}
    for field in ("image_url", "image_sha256", "config_url", "clean_mode"):
        if request.get(field):
            target[field] = request[field]
    return target


def busy(row):
    """The node's action (its target) when one is still going (running or stopping), else None."""
    target = (row or {}).get("target") or {}
    return target if target.get("status") in BUSY else None


def arming(action):
    """The registry fields that arm ``action`` (a dict): a fresh token (an earlier
    ramdisk can no longer report), the time, not booted yet."""
    return {"action": action, "token": new_token(), "armed_at": time.time(), "booted_at": None}


def no_pxe_boot(node, pxe_timeout, now, since):
    """Why to give up on ``node`` whose armed ramdisk action has waited more than
    ``pxe_timeout`` seconds (from the arming, or ``since`` when later) for the node to ask
    for its iPXE script; else None."""
    armed_at = node.get("armed_at")
    if not (pxe_timeout and node.get("action") and armed_at) or node.get("booted_at"):
        return None
    if now - max(armed_at, since) <= pxe_timeout:
        return None
    return ("no PXE boot within %d s for %s: the node never asked for its iPXE script (MACs %s). "
            "Check the MACs in the nodes file, that the node boots from the network, and its link to "
            "the provisioning network" % (pxe_timeout, node["action"]["action"], ", ".join(node.get("macs") or [])))


class Conductor:
    """One worker thread per node with a running action (see the module doc)."""

    def __init__(self, registry, bmc_factory=None, sleep=time.sleep, clock=time.monotonic, wall_clock=time.time,
                 poll=POLL, power_watch=POWER_WATCH, ssh_greets=None):
        self.registry = registry
        self._bmc_factory = bmc_factory or _bmc_of
        self._ssh_greets = ssh_greets or _ssh_greets
        self._sleep, self._clock, self._wall = sleep, clock, wall_clock
        self._poll, self._power_watch = poll, power_watch
        self._workers = {}
        self._lock = threading.Lock()
        # the action the calling worker runs (_Mine): each worker is a thread of its own
        self._local = threading.local()
        # the power-state sync: nodes whose BMC it could not read, {name: (failures, next sweep)}
        self._unanswered = {}
        self._sweep = 0

    # -- starting and stopping ----------------------------------------------------
    def start(self, name, resuming=False):
        """Run the node's action in a worker of its own, unless its worker runs already.
        A worker that ran the node's previous action has written its end (a new action
        is refused until then) and is returning: it is waited for."""
        with self._lock:
            target = (self.registry.get(name) or {}).get("target") or {}
            worker, started_at = self._workers.get(name, (None, None))
            if worker is not None and worker.is_alive():
                if started_at == target.get("started_at"):
                    return
                worker.join(10)
            worker = threading.Thread(target=self._run, args=(name, target.get("started_at"), resuming),
                                      name="conductor-%s" % name, daemon=True)
            self._workers[name] = (worker, target.get("started_at"))
            worker.start()

    def resume(self):
        """Start a worker for every action a previous run of the service left running."""
        for node in self.registry.all():
            if busy(node):
                LOG.info("resuming %s of node %s", node["target"]["action"], node["name"])
                self.start(node["name"], resuming=True)

    # -- the power-state sync ------------------------------------------------------
    def sync_power(self):
        """Read each idle node's power state from its BMC; record what differs. Nodes
        that are busy (their worker owns the BMC) or only enrolled (a BMC not verified
        yet) are left alone; a node whose BMC failed is asked again after 1, 2, 4 ...
        32 sweeps (a BMC that refuses the credentials may lock the account after a few
        tries). Returns {name: (recorded, read)} of the nodes corrected."""
        changed = {}
        self._sweep += 1
        for node in self.registry.all():
            if not node.get("bmc_address") or busy(node) or node["provision_state"] == "enrolled":
                continue
            name, recorded = node["name"], node["power_state"]
            failures, next_sweep = self._unanswered.get(name, (0, 0))
            if self._sweep < next_sweep:
                continue
            bmc = None
            try:
                bmc = self._bmc_factory(node, retries=0)
                power = bmc.power_state()
            except Exception as exc:  # any node's fault (a BMC error, a CA file that is no CA) is its own
                if not failures:
                    LOG.warning("node %s: power-state sync: %s", name, getattr(exc, "message", None) or exc)
                self._unanswered[name] = (failures + 1, self._sweep + min(2 ** failures, 32))
                continue
            finally:
                if bmc is not None:
                    bmcs.close(bmc)
            if self._unanswered.pop(name, None):
                LOG.info("node %s: power-state sync: the BMC answers again", name)
            if power == recorded or power not in ("on", "off"):
                continue
            # not if an action started meanwhile, the node went, or the record moved:
            # the worker, or the next sweep, knows better
            row = self.registry.update(
                name, {"power_state": power}, event="power",
                detail="power %s, read from the BMC (recorded %s)" % (power, recorded),
                expect=lambda row: row is not None and not busy(row) and row["updated_at"] == node["updated_at"])
            if row is not None:
                LOG.info("node %s: power %s, read from the BMC (recorded %s)", name, power, recorded)
                changed[name] = (recorded, power)
        return changed

    def start_power_sync(self, interval):
        """Run ``sync_power`` every ``interval`` seconds in a thread of its own."""
        def loop():
            while True:
                self._sleep(interval)
                try:
                    self.sync_power()
                except Exception:  # the next sweep tries again; the service goes on
                    LOG.exception("power-state sync failed")
        thread = threading.Thread(target=loop, name="conductor-power-sync", daemon=True)
        thread.start()
        return thread

    def join(self, name, timeout=None):
        worker = self._workers.get(name, (None, None))[0]
        if worker is not None:
            worker.join(timeout)

    # -- the worker ---------------------------------------------------------------
    def _run(self, name, started_at, resuming):
        step = "start"
        mine = self._local.mine = _Mine(started_at)
        try:
            while True:
                node = self._check(name)
                target = node["target"]
                if resuming and node["provision_state"] == "failed" and target["action"] not in POWER_ACTIONS:
                    # it failed (a ramdisk's report, which names its step) while the service was
                    # down: that ends the action, with the node's own reason
                    self._end(name, mine, "failed", None,
                              node.get("last_error") or "resume: failed while the undercloud service was down")
                    return
                step = next_step(target["action"], node)
                if step is None:
                    self._end(name, mine, "done")
                    return
                getattr(self, "_step_" + step)(node, target, resuming)
                resuming = False
        except StepFailed as exc:
            self._end(name, mine, "failed", step, exc.message)
        except Exception as exc:  # a defect must still end the action, with its reason
            LOG.exception("node %s: %s failed", name, step)
            self._end(name, mine, "failed", step, "conductor error: %s: %s" % (type(exc).__name__, exc))

    def _check(self, name):
        """The node now; Aborted when its action is to stop, StepFailed when it is gone."""
        mine = self._local.mine
        node = self.registry.get(name)
        if node is None:
            raise StepFailed("node %r was removed from the registry" % name)
        if not mine.running(node):
            raise Aborted("aborted by the operator" if mine.aborting(node) else "its action was replaced")
        return node

    def _update(self, name, fields, detail, event="conductor"):
        """Write ``fields`` only while the action is still this worker's and running
        (checked in the write's transaction); Aborted otherwise."""
        mine = self._local.mine
        row = self.registry.update(name, fields, event=event, detail=detail, expect=mine.running)
        if row is None:
            raise Aborted("aborted by the operator" if mine.aborting(self.registry.get(name)) else
                          "its action was replaced")
        LOG.info("node %s: %s", name, detail)
        return row

    def _end(self, name, mine, status, step=None, message=None):
        """The action ends ``status``; failed: the node failed with "STEP: reason", its
        ramdisk disarmed (a power action leaves the provision state alone). An abort
        that came first turns a finish into that abort."""
        for _ in range(2):
            node = self.registry.get(name)
            if node is None or not mine.ours(node):
                return  # removed or replaced: not this worker's to end
            target = node["target"]
            if mine.aborting(node):
                status, message = "failed", "aborted by the operator"
            fields = {}
            if status == "failed":
                error = "%s: %s" % (step, message) if step else message
                if target["action"] not in POWER_ACTIONS:
                    fields = {"provision_state": "failed", "last_error": error, "action": None, "token": None}
                target = dict(target, error=error)
            fields["target"] = dict(target, status=status, finished_at=round(self._wall(), 3))
            detail = target.get("error") or "%s %s" % (target["action"], status)
            row = self.registry.update(name, fields, event="conductor", detail=detail,
                                       expect=lambda row, seen=target["status"]: mine.ours(row)
                                       and row["target"]["status"] == seen)
            if row is not None:
                LOG.info("node %s: %s", name, detail)
                return
            # the API wrote an abort between the read and the write: end it as that

    # -- the BMC ------------------------------------------------------------------
    def _bmc(self, node, watch=False):
        return self._bmc_factory(node, retries=1 if watch else 5)

    def _power(self, node, verb=None, watch=False):
        """Ask the BMC: the power state, after ``verb`` (on, off) when given; StepFailed
        with the BMC's words when it fails."""
        bmc = self._bmc(node, watch)
        try:
            state = bmc.power_state()
            if verb is None or state == verb:
                return state  # there already: no command (as Ironic's conductor does)
            bmc.set_power(verb, wait=False)
            deadline = self._clock() + node["target"]["timeouts"]["power"]
            while True:
                state = bmc.power_state()
                if state == verb:
                    return state
                if self._clock() > deadline:
                    raise StepFailed("%s: still %s %d s after power %s"
                                     % (bmc.describe(), state, node["target"]["timeouts"]["power"], verb))
                self._check(node["name"])  # an abort lands here too
                self._sleep(1)
        except bmcs.BmcError as exc:
            raise StepFailed(exc.message)
        finally:
            bmcs.close(bmc)

    def _boot_device(self, node, device, persistent):
        """Set the next boot (network: PXE, hd: disk). A BMC that takes it and reads back
        no override, as several vendors' do, is noted in the history, not a failure."""
        bmc = self._bmc(node)
        try:
            bmc.set_boot_device(device, persistent)
            read = bmc.boot_device()["device"]
        except bmcs.BmcError as exc:
            raise StepFailed(exc.message)
        finally:
            bmcs.close(bmc)
        if read in ("default", "unknown", "none", "", None):
            self._update(node["name"], {}, "%s took boot device %s and reads back no override (%r); the "
                         "node's PXE request shows whether it took effect" % (bmc.describe(), device, read),
                         event="warning")
        elif read != device:
            raise StepFailed("%s accepted boot device %s but reports %s" % (bmc.describe(), device, read))

    # -- the steps ----------------------------------------------------------------
    def _step_start_over(self, node, target, resuming):
        self._update(node["name"], {"provision_state": "enrolled", "last_error": None},
                     "start over from enrolled (was failed: %s)" % node.get("last_error"))

    def _step_verify(self, node, target, resuming):
        power = self._power(node)
        self._update(node["name"], {"provision_state": "verified", "power_state": power},
                     "verify: the BMC answers, power %s" % power)

    def _step_power_on(self, node, target, resuming):
        self._update(node["name"], {"power_state": self._power(node, "on")}, "power on")

    def _step_power_off(self, node, target, resuming):
        self._update(node["name"], {"power_state": self._power(node, "off")}, "power off")

    def _step_inspect(self, node, target, resuming):
        self._ramdisk(node, target, {"action": "inspect"}, None, resuming,
                      lambda n: n["provision_state"] == "inspected", "inspected", "inspect")

    def _step_clean(self, node, target, resuming):
        state = None if node["provision_state"] == "cleaning" else "cleaning"
        # the action's mode, else the node's (nodes file: properties.clean_mode)
        mode = target.get("clean_mode") or (node.get("properties") or {}).get("clean_mode") or "metadata"
        action = {"action": "clean", "clean_mode": mode}
        # written with the arming: this action has cleaned (a clean asked for by its mode
        # is not run again once the node is available; a restart meanwhile finds it cleaning)
        self._ramdisk(node, dict(target, cleaned=True), action, state, resuming,
                      lambda n: n["provision_state"] == "available", "available", "clean")

    def _step_deploy(self, node, target, resuming):
        name = node["name"]
        # written already only by this deploy (a restart after the write): a node made
        # available again carries the flag of its previous deploy
        if not (node["provision_state"] == "deploying" and node["deploy_done"]):
            action = {"action": "deploy", "image_url": target["image_url"], "image_sha256": target["image_sha256"]}
            if target.get("config_url"):
                action["config_url"] = target["config_url"]
            if not node.get("target_disk"):
                raise StepFailed("node %r has no target disk; inspect it first" % name)
            state = None if node["provision_state"] == "deploying" else "deploying"
            node = self._ramdisk(node, target, action, state, resuming,
                                 lambda n: n["provision_state"] == "deploying" and n["deploy_done"],
                                 "the image written", "deploy")
        self._boot_device(node, "hd", True)
        power = self._power(node, "on")
        self._update(name, {"power_state": power}, "deploy: image written, booting from disk")
        self._wait_ssh(node, target["timeouts"]["boot"], "boot")
        self._update(name, {"provision_state": "active"}, "deploy: SSH answers on %s" % node["address"])

    def _step_adopt(self, node, target, resuming):
        if not node.get("address"):
            raise StepFailed("node %r has neither a BMC nor an address to adopt it at" % node["name"])
        self._wait_ssh(node, target["timeouts"]["boot"], "adopt")
        self._update(node["name"], {"provision_state": "active"}, "adopt: SSH answers on %s" % node["address"])

    # -- the ramdisk --------------------------------------------------------------
    def _ramdisk(self, node, target, action, state, resuming, reached, wanted, timeout_key):
        """Arm ``action``, boot the ramdisk, wait until ``reached``, power off after it."""
        name = node["name"]
        if resuming and node.get("action") and node["action"]["action"] == action["action"] and not reached(node) \
                and target.get("booted_for") == node.get("armed_at"):
            # the service restarted while the ramdisk ran: it may still report
            self._update(name, {}, "%s: resumed, waiting for the ramdisk armed before" % action["action"])
        else:
            # the token, and so the ramdisk's own deadline, last as long as the step may
            # (a full clean of large disks takes hours; ramdisk_timeout is only a default)
            fields = arming(dict(action, timeout=target["timeouts"][timeout_key] + 60))
            fields["target"] = target
            if state is not None:
                fields["provision_state"] = state
            if action["action"] in ("deploy", "clean"):
                fields["deploy_done"] = False  # a wiped disk holds no image
            armed_at = self._update(name, fields, action["action"], event="arm")["armed_at"]
            self._power(node, "off")
            self._boot_device(node, "network", False)
            self._power(node, "on")
            # booted: a restart from here on waits for this ramdisk rather than boot another
            self._update(name, {"power_state": "on", "target": dict(target, booted_for=armed_at)},
                         "%s: ramdisk booting" % action["action"])
        node = self._wait(name, reached, wanted, target["timeouts"][timeout_key], target["timeouts"]["pxe"])
        self._ramdisk_done(node, target)
        return self.registry.get(name)

    def _wait(self, name, reached, wanted, timeout, pxe_timeout):
        deadline = self._clock() + timeout
        started = self._wall()
        next_power = self._clock() + self._power_watch
        off = False
        while True:
            node = self._check(name)
            if reached(node):
                return node
            if node["provision_state"] == "failed":
                raise StepFailed(node.get("last_error") or "the ramdisk reported a failure")
            message = no_pxe_boot(node, pxe_timeout, self._wall(), started)
            if message is None and self._clock() >= next_power:
                next_power = self._clock() + self._power_watch
                off_before, off = off, self._seen_off(node)
                if off:
                    node = self._check(name)  # the ramdisk powers off once it has reported: look again
                    if reached(node):
                        return node
                    if off_before:
                        message = ("the node is powered off, waiting for %s (state %s): it was switched off, "
                                   "or its ramdisk stopped before it reported (its console says which)"
                                   % (wanted, node["provision_state"]))
            left = deadline - self._clock()
            if message is None and left <= 0:
                message = "timed out after %d s waiting for %s (state was %s%s)" % (
                    timeout, wanted, node["provision_state"],
                    ", not PXE booted" if not node.get("booted_at") else "")
            if message is not None:
                raise StepFailed(message)
            self._sleep(min(self._poll, max(left, 0.1)))

    def _seen_off(self, node):
        """Whether the BMC says off; a BMC that does not answer is no verdict."""
        try:
            return self._power(node, watch=True) == "off"
        except StepFailed:
            return False

    def _ramdisk_done(self, node, target):
        """The ramdisk powers the node off after reporting: give it the time, then make sure."""
        deadline = self._clock() + target["timeouts"]["poweroff"]
        off = False
        while not off and self._clock() < deadline:
            off = self._seen_off(node)
            if not off:
                self._check(node["name"])
                self._sleep(1)  # the BMC's own pacing spaces the readings further
        # off by itself: nothing to ask the BMC again; else switch it off now
        self._update(node["name"], {"power_state": "off" if off else self._power(node, "off")},
                     "ramdisk done, node off")

    def _wait_ssh(self, node, timeout, step):
        """Until the node's SSH server greets on its address (``SSH-`` banner)."""
        deadline = self._clock() + timeout
        address = node["address"]
        while True:
            self._check(node["name"])
            if self._ssh_greets(address):
                return
            if self._clock() > deadline:
                raise StepFailed("no SSH on %s:22 within %d s after %s" % (address, timeout, step))
            self._sleep(self._poll)


class _Mine:
    """Whether a registry row's action is the one a worker runs (its start time)."""

    def __init__(self, started_at):
        self.started_at = started_at

    def ours(self, row):
        target = busy(row)
        return target is not None and target.get("started_at") == self.started_at

    def running(self, row):
        return self.ours(row) and row["target"]["status"] == "running"

    def aborting(self, row):
        return self.ours(row) and row["target"]["status"] == "aborting"


def _ssh_greets(address, port=22):
    """Whether an SSH server greets (``SSH-`` banner) at ``address``."""
    try:
        with socket.create_connection((address, port), timeout=5) as sock:
            sock.settimeout(5)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _bmc_of(node, retries=5):
    """The BMC client of a registry row."""
    return bmcs.make(node["bmc_driver"], node["bmc_address"], node["bmc_port"], node["bmc_username"],
                     node["bmc_password"], system_id=node.get("bmc_system_id"),
                     verify_ca=True if node.get("bmc_verify_ca") is None else node["bmc_verify_ca"],
                     retries=retries, boot_mode=_boot_mode(node))


def _boot_mode(node):
    """The node's firmware mode (nodes file: properties.boot_mode) as BMCs take it."""
    mode = (node.get("properties") or {}).get("boot_mode")
    return {"uefi": "UEFI", "bios": "Legacy"}.get(mode)
