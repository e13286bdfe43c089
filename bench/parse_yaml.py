"""The CPU reference: what merely parsing a file costs, with PyYAML's C loader.

    python bench/parse_yaml.py FILE

A program of its own that imports nothing but PyYAML (and the standard library), so that its
whole-process time is the floor any YAML tool pays for the file. Prints the seconds of the
parse alone and of the garbage collections within it; the file is read before the clock starts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from gcclock import GcClock, timed

if __name__ == "__main__":
    text = Path(sys.argv[1]).read_text(encoding="utf-8")
    print(json.dumps(timed(lambda: yaml.load(text, Loader=yaml.CSafeLoader), GcClock())))
