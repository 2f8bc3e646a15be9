"""The portal: LEAP in the browser for students and staff (``leap portal serve``).

Server-rendered pages (Starlette + Jinja2, no JavaScript build; one small script adds live
alerts where JavaScript runs). Everything it reads or writes goes through
``consumers.records`` (the storage layer shared with the command line) and so through the
access policy and the access log. Modules: ``app`` (assembly), ``sessions`` (sign-ins in
Redis, CSRF), ``auth`` (OpenID Connect and the development sign-in), ``web`` (request
helpers), ``pages`` (students and caseload), ``forms`` (every write), ``inbox`` (alerts,
live updates), ``charts`` (pure SVG).
"""
