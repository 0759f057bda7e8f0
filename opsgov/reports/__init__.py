"""The scheduled email reports: building, rendering and sending them (``services``), the subscription
page (``views``) and the beat task (``tasks``).

Apps contribute sections through ``services.report_sections``. The records are in
opsgov.models.reports: models stay in the models package (see opsgov.models).
"""
