"""The exit status of a command line, whether ``main`` returns it or argparse raises SystemExit."""

from hybridsmooth.cli import main


def exit_status(argv):
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code
