"""Engine layer: from events and prices to abnormal returns and the test battery.

Builds the (pairs x days) event panel on each ticker's venue, fits the normal-return models on every pair at
once, computes AR, CAR, BHAR, AAR and CAAR and the per-group tests, and hands on an
:class:`~eventstudy.results.EventStudyResults`. ``EventStudy`` is the entry point.
"""
