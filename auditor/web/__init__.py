"""The web workspace: server-rendered pages and a JSON API over the audit store.

Build the application with :func:`auditor.web.app.create_app`; run it with
``auditor serve``. Route handlers only translate HTTP to the service functions in
:mod:`auditor.web.workspace`, :mod:`auditor.users`, :mod:`auditor.schedule` and
:mod:`auditor.store`, which the CLI uses too.
"""
