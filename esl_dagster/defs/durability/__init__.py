"""Keeping accepted jobs alive through infrastructure faults (see ``relaunch``)."""
