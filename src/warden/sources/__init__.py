"""Log readers (adapters): they turn logs into batches of decoded lines with positions.

- ``base``: ``LogBatch``, ``FilePosition``/``JournalPosition``, ``SourceStatus``, ``LogSource``
  protocol, backend and encoding names.
- ``filetail.FileSource``: every ``logpath`` file, one ``tail.FileTail`` per file, woken by a
  watcher (``inotify``, ``kqueue``, ``polling``); ``seek.find_since`` for the first start.
- ``journal.JournalSource``: the systemd journal (optional ``systemd`` binding).
- ``syslog.SyslogSource``: a Unix or UDP syslog socket.
- ``supervise.Supervised``: restart with backoff, for the daemon's task group.
- ``memory.MemorySource``: the dry-run twin (lines pushed by code), for tests and replays.

Sources import nothing of warden but ``core`` and ``errors``; storing positions is the daemon's.
"""
