"""The quality gates, as core runs them: the engine, waivers, their pages, API, admin and tasks.

- ``services``: the gate engine (evaluate, apply waivers, store, notify a status change);
- ``waivers``: time-limited exceptions for failing checks (request, approve, revoke);
- ``selectors``: the reads of the gate pages, the scorecard, the CSV export and the API;
- ``views``, ``urls``, ``forms``: the HTML pages under /gates/;
- ``api``: the gates API (routes under /api/v1/);
- ``admin``, ``tasks``, ``demo``.

The gate interface and registry are opsgov.registry (apps define their gates
in their own ``gates.py``). The records are in opsgov.models.gates: Django loads
an app's models from ``opsgov.models``, and a ``gates/models.py`` re-exported
there would have the two import each other, so models stay in the models package.
"""
