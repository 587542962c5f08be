"""Print the entry points ("group=name" arguments) the installed neutron lacks."""
import sys
from importlib.metadata import entry_points

missing = []
for wanted in sys.argv[1:]:
    group, name = wanted.split("=")
    if name not in {e.name for e in entry_points(group=group)}:
        missing.append(wanted)
print(" ".join(missing))
