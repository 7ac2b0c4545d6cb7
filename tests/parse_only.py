"""A stand-in interpreter for scripts that start the project's programs: ``parse_only.py [-m MODULE | SCRIPT] ARGS``
parses ARGS with the program's own parser and exits 0 or with its usage error, running nothing
(``documented_commands``)."""

import sys

from documented_commands import _parse

if __name__ == "__main__":
    argv = sys.argv[1:]
    kind, target, args = ("module", argv[1], argv[2:]) if argv[0] == "-m" else ("path", argv[0], argv[1:])
    err = _parse(kind, target, args)
    if err:
        print(err, file=sys.stderr)
    sys.exit(2 if err else 0)
