"""The exit codes every ``esl`` command returns."""

EXIT_OK = 0
# The work failed: an invalid lesson, a failed stage, a job the API refused or that failed,
# problems a check found.
EXIT_FAILED = 1
# A usage or configuration error: a bad flag value, an unreadable path, incomplete settings.
EXIT_USAGE = 2
# The reader of stdout went away: the output stops quietly, as with a process ended by SIGPIPE.
EXIT_BROKEN_PIPE = 141
