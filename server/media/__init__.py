"""Media: uploaded files (images, audio, video, documents) and how they are kept.

- :mod:`server.media.sniff`: which types are known, their magic numbers, image sizes (no I/O
  beyond reading an already open file).
- :mod:`server.media.lists`: the known-file lists (``[[content.media_lists]]``, SHA-256 per line).
- :mod:`server.media.index`: the in-memory index of stored media (loaded at start).
- :mod:`server.media.uploads`: uploads in progress (a temp file, hashed as it is written) and
  the content-addressed layout under ``media.path``.
- :mod:`server.media.service`: what one running server holds (uploads, limits, lists, URL key).
- :mod:`server.media.web`: ``GET /media/{media_id}`` with a signed, expiring query.
- :mod:`server.media.cleanup`: removing media no message or post carries any more.

The ops themselves are in :mod:`server.handlers.media`.
"""
