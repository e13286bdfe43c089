"""The CPU floor: what merely parsing a file costs, with PyYAML's C loader and the cyclic
garbage collector off (pgsync turns it off while loading too).

    python bench/parse_yaml.py FILE          the floor: GC off
    python bench/parse_yaml.py FILE --gc     the default interpreter: GC on

A program of its own that imports nothing but PyYAML (and the standard library), so that its
whole-process time is the floor any YAML tool pays for the file. Prints the seconds of the
parse alone and of the garbage collections within it; the file is read before the clock starts.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import yaml
from gcclock import GcClock, timed

if __name__ == "__main__":
    file, *options = sys.argv[1:]
    text = Path(file).read_text(encoding="utf-8")
    if "--gc" not in options:
        gc.disable()
    print(json.dumps(timed(lambda: yaml.load(text, Loader=yaml.CSafeLoader), GcClock())))
